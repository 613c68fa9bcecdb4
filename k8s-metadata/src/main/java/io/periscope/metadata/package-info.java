/**
 * Who a process is: the OpenTelemetry {@link io.opentelemetry.sdk.resources.Resource} of a pid.
 *
 * <pre>
 *   pid, comm --&gt; ResourceResolver.resolve --&gt; Resource (service.name, process.*, host.name)
 *                  ProcessResources: /proc/&lt;pid&gt;/{cmdline,exe,comm}, cached per pid (bounded LRU + TTL)
 *                  ServiceNames:     argv --&gt; service.name, looking through interpreters
 * </pre>
 *
 * <p>On a host outside Kubernetes {@link io.periscope.metadata.ProcessResources} is the whole story.
 * In a cluster a pod resolver will sit in front of it (pid -&gt; cgroup -&gt; container id -&gt; pod) and
 * add {@code k8s.*} and {@code container.id} attributes to the process resource; both are
 * {@link io.periscope.metadata.ResourceResolver}s, so the pipeline does not change.
 */
@NullMarked
package io.periscope.metadata;

import org.jspecify.annotations.NullMarked;
