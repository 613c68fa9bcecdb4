package io.periscope.agent.testing;

import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What an object graph of the agent holds, measured by walking it: the bytes of its arrays and
 * strings (plus a rough 16 bytes per object), the longest array and the largest collection in it.
 * Fields of Periscope's own classes are followed (static ones are not: they are shared, not held
 * per connection); the JDK's collections through their interfaces; other objects count as one
 * object. Objects given as excluded (a sink, the counters) and what only they reach are left out.
 *
 * <p>For the fuzz tests' "bounded memory per connection": an estimate, good to compare against
 * the documented limits, not an exact heap size.
 */
public record RetainedMemory(long bytes, int longestArray, int largestCollection) {
  private static final int OBJECT = 16;
  private static final int REFERENCE = 4;

  public static RetainedMemory of(Object root, Object... excluded) {
    Set<Object> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    Collections.addAll(seen, excluded);
    ArrayDeque<Object> todo = new ArrayDeque<>();
    todo.push(root);
    long bytes = 0;
    int longestArray = 0;
    int largestCollection = 0;
    while (!todo.isEmpty()) {
      Object o = todo.pop();
      if (!seen.add(o)) {
        continue;
      }
      Class<?> type = o.getClass();
      if (o instanceof String s) {
        bytes += OBJECT + 8 + s.length();
      } else if (type.isArray()) {
        int length = Array.getLength(o);
        longestArray = Math.max(longestArray, length);
        Class<?> component = type.getComponentType();
        bytes += OBJECT + (long) length * elementSize(component);
        if (!component.isPrimitive()) {
          for (int i = 0; i < length; i++) {
            push(todo, Array.get(o, i));
          }
        }
      } else if (o instanceof Collection<?> c) {
        largestCollection = Math.max(largestCollection, c.size());
        bytes += OBJECT + (long) c.size() * REFERENCE;
        c.forEach(e -> push(todo, e));
      } else if (o instanceof Map<?, ?> m) {
        largestCollection = Math.max(largestCollection, m.size());
        bytes += OBJECT + (long) m.size() * 2 * (REFERENCE + OBJECT);
        m.forEach((k, v) -> {
          push(todo, k);
          push(todo, v);
        });
      } else {
        bytes += OBJECT;
        if (type.getName().startsWith("io.periscope.")) {
          for (Field f : fields(type)) {
            bytes += f.getType().isPrimitive() ? elementSize(f.getType()) : REFERENCE;
            if (!f.getType().isPrimitive()) {
              push(todo, read(f, o));
            }
          }
        }
      }
    }
    return new RetainedMemory(bytes, longestArray, largestCollection);
  }

  private static void push(ArrayDeque<Object> todo, Object o) {
    if (o != null && !(o instanceof Class<?>) && !(o instanceof Enum<?>)) {
      todo.push(o);
    }
  }

  private static final Map<Class<?>, List<Field>> FIELDS = new java.util.concurrent.ConcurrentHashMap<>();

  private static List<Field> fields(Class<?> type) {
    return FIELDS.computeIfAbsent(type, t -> {
      List<Field> fields = new ArrayList<>();
      for (Class<?> c = t; c != null && c != Object.class; c = c.getSuperclass()) {
        for (Field f : c.getDeclaredFields()) {
          if (!Modifier.isStatic(f.getModifiers())) {
            f.setAccessible(true);
            fields.add(f);
          }
        }
      }
      return fields;
    });
  }

  private static Object read(Field f, Object o) {
    try {
      return f.get(o);
    } catch (IllegalAccessException e) {
      throw new AssertionError(e);
    }
  }

  private static int elementSize(Class<?> type) {
    if (type == byte.class || type == boolean.class) {
      return 1;
    }
    if (type == char.class || type == short.class) {
      return 2;
    }
    if (type == int.class || type == float.class) {
      return 4;
    }
    if (type == long.class || type == double.class) {
      return 8;
    }
    return REFERENCE;
  }
}
