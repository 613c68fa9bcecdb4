/**
 * Who a process is: the OpenTelemetry {@link io.opentelemetry.sdk.resources.Resource} of a pid,
 * and the names of the peers it talks to.
 *
 * <pre>
 *   pid, comm --&gt; ResourceResolver.resolve --&gt; Resource (service.name, process.*, host.name; k8s.*, container.id)
 *                  ProcessResources: /proc/&lt;pid&gt;/{cmdline,exe,comm}, cached per pid (bounded LRU + TTL)
 *                  ServiceNames:     argv --&gt; service.name, looking through interpreters
 *                  k8s:              the pod of the pid's container, in front of ProcessResources
 *   peer address --&gt; PeerNames.nameOf --&gt; "orders.shop" (a Service), "web-0" (a pod on this node), or null
 * </pre>
 *
 * <p>{@link io.periscope.metadata.NodeMetadata} starts whichever mode the configuration chose
 * ({@link io.periscope.metadata.MetadataConfig}): on a host outside Kubernetes,
 * {@link io.periscope.metadata.ProcessResources} is the whole story; on a Kubernetes node,
 * {@link io.periscope.metadata.k8s.KubernetesMetadata} adds the pod's attributes to the process
 * resource. Both are {@link io.periscope.metadata.ResourceResolver}s, so the pipeline does not change.
 */
@NullMarked
package io.periscope.metadata;

import org.jspecify.annotations.NullMarked;
