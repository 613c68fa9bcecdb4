{{/* The release's objects are all named periscope (or <release>-periscope). */}}
{{- define "periscope.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "periscope.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "periscope.selectorLabels" -}}
app.kubernetes.io/name: {{ include "periscope.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "periscope.labels" -}}
{{ include "periscope.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: node-agent
{{- end }}

{{- define "periscope.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "periscope.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The capabilities the agent uses, and why (README, "Capabilities"):
  BPF              load eBPF programs, create maps and the ring buffer
  PERFMON          attach tracepoint programs, read kernel memory from them (bpf_probe_read_kernel)
  SYS_PTRACE       read /proc/PID/exe and the process details of other users' processes
  DAC_READ_SEARCH  read tracefs (root-only files) to attach tracepoints, and /proc entries
  NET_ADMIN        only with linking.injectTraceparent: load sockops and sk_msg programs, attach
                   them to the cgroup v2 root and the sockhash
With sysAdminFallback, SYS_ADMIN stands in for BPF and PERFMON (kernels before 5.8) and lets the
agent mount tracefs.
*/}}
{{- define "periscope.capabilities" -}}
{{- if .Values.security.sysAdminFallback }}
- SYS_ADMIN
- SYS_PTRACE
- DAC_READ_SEARCH
{{- else }}
- BPF
- PERFMON
- SYS_PTRACE
- DAC_READ_SEARCH
{{- end }}
{{- if .Values.linking.injectTraceparent }}
- NET_ADMIN
{{- end }}
{{- end }}
