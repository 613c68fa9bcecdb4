/**
 * Kubernetes metadata for the processes of one node.
 *
 * <pre>
 *   pid --&gt; /proc/&lt;pid&gt;/cgroup --&gt; container id (ContainerCgroup)
 *       --&gt; NodeView: container id --&gt; pod + container attributes (PodAttributes: k8s.*, service.*)
 *           built by NodePods from the pod informer (spec.nodeName=$NODE_NAME)
 *           with owner walks (OwnerLookups: ReplicaSet --&gt; Deployment, Job --&gt; CronJob, by name, on demand)
 *   peer IP --&gt; this node's pod names (NodeView), Service cluster IPs (ServiceAddresses, service informer)
 * </pre>
 *
 * <p>{@link io.periscope.metadata.k8s.KubernetesMetadata} owns the API client and the informers;
 * {@link io.periscope.metadata.k8s.ClusterAccess} decides at startup whether this is a Kubernetes node.
 */
@NullMarked
package io.periscope.metadata.k8s;

import org.jspecify.annotations.NullMarked;
