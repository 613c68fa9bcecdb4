package io.periscope.agent;

import io.periscope.agent.AgentConfig.ConfigException;
import java.io.IOException;
import java.io.Reader;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;

/**
 * The configuration file ({@code --config FILE}): YAML sections of keys, such as
 *
 * <pre>
 * capture:
 *   bytes: 4096
 * filters:
 *   ports: [8080, 8443]
 * </pre>
 *
 * Each key is a {@link Setting}; a key the agent does not know is refused (a misspelt key would
 * otherwise be ignored without a word, and the operator would believe it applied). Values are
 * turned into the same text a flag or variable carries, and checked with the other sources.
 */
final class ConfigFile {
  private ConfigFile() {}

  static Map<Setting, AgentConfig.Value> read(Path file) {
    Object document;
    // Safe constructor: plain maps, lists and scalars, never arbitrary classes. Duplicate keys are
    // refused: with two values for one key, which one applies would be a guess.
    LoaderOptions options = new LoaderOptions();
    options.setAllowDuplicateKeys(false);
    try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      document = new Yaml(new SafeConstructor(options)).load(reader);
    } catch (NoSuchFileException e) {
      throw new ConfigException(file + ": no such file (--config)");
    } catch (IOException e) {
      throw new ConfigException(file + ": cannot read: " + e.getMessage());
    } catch (MarkedYAMLException e) {
      String where = e.getProblemMark() == null ? ""
          : " (line " + (e.getProblemMark().getLine() + 1) + ", column " + (e.getProblemMark().getColumn() + 1) + ")";
      throw new ConfigException(file + ": not valid YAML: " + e.getProblem() + where);
    } catch (YAMLException e) {
      throw new ConfigException(file + ": not valid YAML: " + e.getMessage().replace('\n', ' ').strip());
    }
    Map<Setting, AgentConfig.Value> values = new EnumMap<>(Setting.class);
    if (document == null) {
      return values; // an empty file: every default
    }
    if (!(document instanceof Map<?, ?> sections)) {
      throw new ConfigException(file + ": must be a map of sections (" + sections() + ")");
    }
    for (Map.Entry<?, ?> section : sections.entrySet()) {
      String name = String.valueOf(section.getKey());
      if (!(section.getValue() instanceof Map<?, ?> keys)) {
        throw new ConfigException(file + ": " + name + " must be a map of keys, such as "
            + (isSection(name) ? exampleOf(name) : "capture.bytes") + unknownHint(name));
      }
      for (Map.Entry<?, ?> entry : keys.entrySet()) {
        String key = name + "." + entry.getKey();
        Setting setting = Setting.byKey(key).orElseThrow(() -> new ConfigException(
            file + ": unknown key '" + key + "' (known keys: " + knownKeys() + ")"));
        String origin = file + ": " + key;
        values.put(setting, new AgentConfig.Value(text(setting, entry.getValue(), origin), origin));
      }
    }
    return values;
  }

  /** The value as the text a flag or variable would carry. */
  private static String text(Setting setting, Object value, String origin) {
    if (value == null) {
      throw new ConfigException(origin + " has no value");
    }
    return switch (setting.shape) {
      case SCALAR, SWITCH -> scalar(value, origin);
      case LIST -> {
        List<?> items = value instanceof List<?> list ? list : List.of(value);
        List<String> texts = new ArrayList<>();
        for (Object item : items) {
          texts.add(scalar(item, origin));
        }
        if (texts.isEmpty()) {
          throw new ConfigException(origin + " is an empty list: leave the key out to mean every one");
        }
        yield String.join(",", texts);
      }
      case MAP -> {
        if (!(value instanceof Map<?, ?> map)) {
          throw new ConfigException(origin + " must be a map of names to values");
        }
        // The header variable's format (W3C Baggage): name=value pairs, values percent-encoded.
        yield map.entrySet().stream()
            .map(e -> scalar(e.getKey(), origin) + "="
                + URLEncoder.encode(scalar(e.getValue(), origin + "." + e.getKey()), StandardCharsets.UTF_8)
                    .replace("+", "%20"))
            .collect(Collectors.joining(","));
      }
    };
  }

  private static String scalar(Object value, String origin) {
    if (value instanceof Map<?, ?> || value instanceof List<?>) {
      throw new ConfigException(origin + " must be a single value, not a " + (value instanceof Map ? "map" : "list"));
    }
    if (value == null) {
      throw new ConfigException(origin + " has no value");
    }
    return value.toString();
  }

  private static String sections() {
    return Arrays.stream(Setting.values()).map(s -> s.key.substring(0, s.key.indexOf('.'))).distinct()
        .collect(Collectors.joining(", "));
  }

  private static String exampleOf(String section) {
    return Arrays.stream(Setting.values()).map(s -> s.key).filter(k -> k.startsWith(section + ".")).findFirst()
        .orElseThrow();
  }

  private static String unknownHint(String section) {
    return isSection(section) ? "" : " ('" + section + "' is not a section: " + sections() + ")";
  }

  /** Whether some key is in this section (not merely ends with its name, as 'data' in metadata.kubernetes). */
  private static boolean isSection(String name) {
    return Arrays.stream(Setting.values()).anyMatch(s -> s.key.startsWith(name + "."));
  }

  static String knownKeys() {
    return Arrays.stream(Setting.values()).map(s -> s.key).collect(Collectors.joining(", "));
  }
}
