package io.periscope.metadata.k8s;

import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceSpec;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * The cluster IPs of every Service, each with the name a client in the cluster uses for it,
 * {@code <service>.<namespace>}, from the service informer's events. Headless Services
 * ({@code clusterIP: None}) and ExternalName Services have no cluster IP and name nothing.
 */
final class ServiceAddresses {

  private final Map<InetAddress, String> names = new ConcurrentHashMap<>();

  @Nullable String nameOf(InetAddress address) {
    return names.get(address);
  }

  void upsert(@Nullable Service old, Service service) {
    String name = name(service);
    if (old != null) {
      // An update can drop an address (dual-stack turned off); only this Service's entries go.
      List<InetAddress> now = addresses(service);
      for (InetAddress address : addresses(old)) {
        if (!now.contains(address)) {
          names.remove(address, name(old));
        }
      }
    }
    if (name != null) {
      for (InetAddress address : addresses(service)) {
        names.put(address, name);
      }
    }
  }

  void delete(Service service) {
    String name = name(service);
    if (name != null) {
      // remove(key, value): an address already handed to a newer Service keeps that one's name.
      addresses(service).forEach(address -> names.remove(address, name));
    }
  }

  int size() {
    return names.size();
  }

  private static @Nullable String name(Service service) {
    if (service.getMetadata() == null || service.getMetadata().getName() == null
        || service.getMetadata().getNamespace() == null) {
      return null;
    }
    return service.getMetadata().getName() + "." + service.getMetadata().getNamespace();
  }

  private static List<InetAddress> addresses(Service service) {
    ServiceSpec spec = service.getSpec();
    if (spec == null) {
      return List.of();
    }
    Set<String> texts = new LinkedHashSet<>();
    if (spec.getClusterIPs() != null) {
      texts.addAll(spec.getClusterIPs());
    }
    if (spec.getClusterIP() != null) {
      texts.add(spec.getClusterIP());
    }
    List<InetAddress> addresses = new ArrayList<>();
    for (String text : texts) {
      InetAddress address = IpLiterals.parse(text);
      if (address != null) {
        addresses.add(address);
      }
    }
    return addresses;
  }
}
