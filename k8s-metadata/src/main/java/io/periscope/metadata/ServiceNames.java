package io.periscope.metadata;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * The {@code service.name} a zero-code agent gives a process it did not start: the program that runs,
 * looking through interpreters to the script, module, jar or main class they run.
 *
 * <pre>
 *   python3 -m http.server 8080                 http.server
 *   /usr/bin/python3.11 -u manage.py runserver  manage
 *   java -Dfoo=bar -jar /opt/orders-1.2.jar     orders-1.2
 *   java -cp x.jar com.acme.OrderService        OrderService
 *   java -m com.acme/com.acme.Main              Main
 *   node server.js                              server
 *   nginx: worker process                       nginx      (a title the program wrote over its argv)
 *   /usr/sbin/nginx -g daemon off;              nginx
 *   python3 -c 'print(1)'                       python3    (inline code names nothing)
 *   (empty: kernel thread, zombie)              comm
 * </pre>
 *
 * <p>Interpreters are recognised by the base name of {@code argv[0]} without its version
 * ({@code python3.11}, {@code pypy3}, {@code perl5.36}): Python, Java, Node.js, Ruby, Perl and PHP.
 * Each one's options are described by a table of which options take a value, so that a value
 * ({@code -cp lib.jar}, {@code -W ignore}) is never mistaken for the program.
 */
public final class ServiceNames {

  /** The name when neither the command line nor the command name says anything (the SDK's default). */
  public static final String UNKNOWN_SERVICE = "unknown_service";

  /** What an option's value, or the first operand, is, and so how it names the service. */
  private enum Launch {
    /** A script file: {@code /srv/app.py} is {@code app}. */
    SCRIPT,
    /** A Python module run as the main program: {@code http.server} as it is. */
    PYTHON_MODULE,
    /** An executable jar: {@code /opt/orders-1.2.jar} is {@code orders-1.2}. */
    JAR,
    /** {@code module[/mainclass]}: the main class's simple name, else the module. */
    JAVA_MODULE,
    /** A main class ({@code com.acme.OrderService} is {@code OrderService}) or a single source file. */
    MAIN_CLASS,
    /** Code on the command line ({@code -c}, {@code -e}): it names nothing, the interpreter stands. */
    INLINE_CODE
  }

  /** How an interpreter's options are spelled. */
  private enum Syntax {
    /** Every option is a word of its own, {@code --name=value} or {@code -name value} (java, node). */
    WORDS,
    /** getopt style: short options bundle ({@code -um http.server}) and values may be attached ({@code -Wignore}). */
    BUNDLED
  }

  /**
   * @param valueOptions    options whose value is attached or is the next word
   * @param attachedOptions options whose optional value can only be attached: the rest of the word
   * @param launchOptions   options whose value is what runs; no operand follows
   * @param operand         what the first word that is not an option is
   * @param argumentFiles   {@code @file} words hold more options (the java launcher)
   */
  private record Interpreter(Syntax syntax, Set<String> valueOptions, Set<String> attachedOptions,
      Map<String, Launch> launchOptions, Launch operand, boolean argumentFiles) {}

  private static final Interpreter PYTHON = new Interpreter(Syntax.BUNDLED,
      Set.of("-W", "-X", "--check-hash-based-pycs"),
      Set.of(),
      Map.of("-m", Launch.PYTHON_MODULE, "-c", Launch.INLINE_CODE),
      Launch.SCRIPT, false);

  private static final Interpreter JAVA = new Interpreter(Syntax.WORDS,
      Set.of("-cp", "-classpath", "--class-path", "-p", "--module-path", "--upgrade-module-path",
          "--add-modules", "--add-opens", "--add-exports", "--add-reads", "--patch-module",
          "--limit-modules", "--enable-native-access", "--source"),
      Set.of(),
      Map.of("-jar", Launch.JAR, "-m", Launch.JAVA_MODULE, "--module", Launch.JAVA_MODULE),
      Launch.MAIN_CLASS, true);

  private static final Interpreter NODE = new Interpreter(Syntax.WORDS,
      Set.of("-r", "--require", "--import", "--loader", "--experimental-loader", "-C", "--conditions",
          "--title", "--env-file", "--input-type"),
      Set.of(),
      Map.of("-e", Launch.INLINE_CODE, "--eval", Launch.INLINE_CODE,
          "-p", Launch.INLINE_CODE, "--print", Launch.INLINE_CODE),
      Launch.SCRIPT, false);

  private static final Interpreter RUBY = new Interpreter(Syntax.BUNDLED,
      Set.of("-I", "-r", "-C", "-E", "--encoding", "--external-encoding", "--internal-encoding",
          "--enable", "--disable"),
      Set.of("-0", "-F", "-K", "-T", "-W", "-x", "-i"),
      Map.of("-e", Launch.INLINE_CODE),
      Launch.SCRIPT, false);

  private static final Interpreter PERL = new Interpreter(Syntax.BUNDLED,
      Set.of("-I", "-M", "-m"),
      Set.of("-0", "-C", "-d", "-D", "-F", "-i", "-l", "-V", "-x"),
      Map.of("-e", Launch.INLINE_CODE, "-E", Launch.INLINE_CODE),
      Launch.SCRIPT, false);

  private static final Interpreter PHP = new Interpreter(Syntax.BUNDLED,
      Set.of("-c", "-d", "-z", "-t", "-S", "--php-ini", "--define", "--zend-extension"),
      Set.of(),
      Map.ofEntries(
          Map.entry("-f", Launch.SCRIPT), Map.entry("--file", Launch.SCRIPT), Map.entry("-F", Launch.SCRIPT),
          Map.entry("-r", Launch.INLINE_CODE), Map.entry("--run", Launch.INLINE_CODE),
          Map.entry("-B", Launch.INLINE_CODE), Map.entry("-R", Launch.INLINE_CODE),
          Map.entry("-E", Launch.INLINE_CODE)),
      Launch.SCRIPT, false);

  /** By interpreter name without version: {@code python3.11} is {@code python}. */
  private static final Map<String, Interpreter> INTERPRETERS = Map.of(
      "python", PYTHON, "pypy", PYTHON,
      "java", JAVA,
      "node", NODE, "nodejs", NODE,
      "ruby", RUBY,
      "perl", PERL,
      "php", PHP);

  private static final Pattern VERSION_SUFFIX = Pattern.compile("[0-9.]+$");
  private static final Pattern WHITESPACE = Pattern.compile("\\s+");
  private static final List<String> SCRIPT_EXTENSIONS =
      List.of(".py", ".pyc", ".js", ".mjs", ".cjs", ".ts", ".rb", ".pl", ".php", ".java");

  private ServiceNames() {}

  /**
   * The detected service name of a process.
   *
   * @param argv the process's arguments, {@code argv[0]} first, as {@code /proc/<pid>/cmdline} shows
   *             them; empty for kernel threads and zombies
   * @param comm the process's command name, used when {@code argv} is empty
   * @return a non-empty name: never a whole command line, which can hold secrets
   */
  public static String fromCommandLine(List<String> argv, String comm) {
    requireNonNull(argv, "argv");
    requireNonNull(comm, "comm");
    List<String> args = withoutTitle(argv);
    String program = args.isEmpty() ? "" : programName(args.getFirst());
    if (program.isEmpty()) {
      return comm.isEmpty() ? UNKNOWN_SERVICE : comm;
    }
    Interpreter interpreter = INTERPRETERS.get(
        VERSION_SUFFIX.matcher(program.toLowerCase(Locale.ROOT)).replaceFirst(""));
    if (interpreter == null) {
      return program;
    }
    String launched = launched(interpreter, args);
    return launched != null ? launched : program;
  }

  /**
   * Programs such as nginx, postgres and gunicorn write a title over their arguments
   * ({@code nginx: worker process}); the kernel then shows it as one argument. A title names the
   * program before its colon; a whole command line written as one argument is split into words.
   */
  private static List<String> withoutTitle(List<String> argv) {
    if (argv.isEmpty() || !WHITESPACE.matcher(argv.getFirst()).find()) {
      return argv;
    }
    String[] words = WHITESPACE.split(argv.getFirst().strip());
    if (words.length > 0 && words[0].endsWith(":")) {
      return List.of(words[0].substring(0, words[0].length() - 1));
    }
    // More than one argument: argv[0] is a path with a space in it, not a title.
    return argv.size() == 1 ? List.of(words) : argv;
  }

  /** The base name of {@code argv[0]}; a login shell's leading {@code -} is not part of it. */
  private static String programName(String argv0) {
    String name = baseName(argv0);
    while (name.startsWith("-")) {
      name = name.substring(1);
    }
    return name.strip();
  }

  /** What the interpreter runs, named; null when the command line does not say (a REPL, inline code). */
  private static @Nullable String launched(Interpreter interpreter, List<String> argv) {
    for (int i = 1; i < argv.size(); i++) {
      String arg = argv.get(i);
      if (arg.equals("--")) {
        return i + 1 < argv.size() ? name(interpreter.operand(), argv.get(i + 1)) : null;
      }
      if (arg.equals("-")) {
        return null; // the program comes from standard input
      }
      if (!arg.startsWith("-")) {
        if (interpreter.argumentFiles() && arg.startsWith("@")) {
          continue; // more options, in a file we do not read
        }
        return name(interpreter.operand(), arg);
      }
      if (interpreter.syntax() == Syntax.WORDS || arg.startsWith("--")) {
        int equals = arg.indexOf('=');
        String option = equals < 0 ? arg : arg.substring(0, equals);
        String attached = equals < 0 ? null : arg.substring(equals + 1);
        Launch launch = interpreter.launchOptions().get(option);
        if (launch != null) {
          return name(launch, attached != null ? attached : wordAfter(argv, i));
        }
        if (attached == null && interpreter.valueOptions().contains(option)) {
          i++;
        }
        continue;
      }
      for (int j = 1; j < arg.length(); j++) {
        String option = "-" + arg.charAt(j);
        String rest = arg.substring(j + 1);
        Launch launch = interpreter.launchOptions().get(option);
        if (launch != null) {
          return name(launch, rest.isEmpty() ? wordAfter(argv, i) : rest);
        }
        if (interpreter.valueOptions().contains(option)) {
          if (rest.isEmpty()) {
            i++;
          }
          break;
        }
        if (interpreter.attachedOptions().contains(option)) {
          break;
        }
      }
    }
    return null;
  }

  private static @Nullable String wordAfter(List<String> argv, int i) {
    return i + 1 < argv.size() ? argv.get(i + 1) : null;
  }

  private static @Nullable String name(Launch launch, @Nullable String value) {
    if (value == null) {
      return null;
    }
    String name = switch (launch) {
      case SCRIPT -> scriptName(value);
      case PYTHON_MODULE -> value;
      case JAR -> stripSuffix(baseName(value), ".jar");
      case JAVA_MODULE -> {
        int slash = value.indexOf('/');
        yield slash < 0 ? value : simpleClassName(value.substring(slash + 1));
      }
      case MAIN_CLASS -> value.endsWith(".java") ? scriptName(value) : simpleClassName(value);
      case INLINE_CODE -> "";
    };
    name = name.strip();
    return name.isEmpty() ? null : name;
  }

  private static String scriptName(String path) {
    String name = baseName(path);
    for (String extension : SCRIPT_EXTENSIONS) {
      if (name.endsWith(extension)) {
        return name.substring(0, name.length() - extension.length());
      }
    }
    return name;
  }

  /** {@code com.acme.OrderService} (or {@code com/acme/OrderService}) is {@code OrderService}. */
  private static String simpleClassName(String className) {
    return className.substring(Math.max(className.lastIndexOf('.'), className.lastIndexOf('/')) + 1);
  }

  private static String stripSuffix(String name, String suffix) {
    return name.endsWith(suffix) ? name.substring(0, name.length() - suffix.length()) : name;
  }

  static String baseName(String path) {
    return path.substring(path.lastIndexOf('/') + 1);
  }
}
