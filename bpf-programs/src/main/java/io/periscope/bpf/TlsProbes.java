package io.periscope.bpf;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;

/**
 * The uprobes on TLS libraries: OpenSSL's (and BoringSSL's, which has the same functions)
 * {@code SSL_write}, {@code SSL_write_ex}, {@code SSL_read}, {@code SSL_read_ex} (entry and return)
 * and {@code SSL_set_fd}, and for memory-BIO stacks {@code SSL_set_bio}, {@code BIO_new_bio_pair}
 * and {@code BIO_write} (libcrypto's), attached to each library file once (uprobes belong to the
 * file, so every process mapping it is covered, those started later too), whatever of them exists
 * in that build.
 *
 * <p>Libraries are found in the standard library directories at start, and in the memory maps of
 * processes (through {@code /proc/PID/root}, so files inside containers are reached): at start,
 * for each process that execs as soon as the kernel says so ({@link #probeExecs()}), and for each
 * new process at every {@link #refresh()}; an executable that exports {@code SSL_write} itself (a
 * statically linked OpenSSL or BoringSSL, as node's builds) is probed the same way, and a Go
 * program that links crypto/tls gets the Go probes ({@code go_tls.bpf.h}). Owned by
 * {@link KernelCapture}: the links belong to its object and go with it. Not thread-safe: the
 * capture thread calls it.
 */
final class TlsProbes {
  record Probe(String function, String program, boolean retprobe) {}

  static final List<Probe> OPENSSL = List.of(
      new Probe("SSL_write", "ssl_write_enter", false),
      new Probe("SSL_write", "ssl_write_return", true),
      new Probe("SSL_write_ex", "ssl_write_ex_enter", false),
      new Probe("SSL_write_ex", "ssl_write_ex_return", true),
      new Probe("SSL_read", "ssl_read_enter", false),
      new Probe("SSL_read", "ssl_read_return", true),
      new Probe("SSL_read_ex", "ssl_read_ex_enter", false),
      new Probe("SSL_read_ex", "ssl_read_ex_return", true),
      new Probe("SSL_set_fd", "ssl_set_fd", false),
      // Memory-BIO stacks (python's asyncio, gRPC's core): which SSL* reads from which BIO, and the
      // ciphertext handed to it (libcrypto's functions; a static build has them all).
      new Probe("SSL_set_bio", "ssl_set_bio", false),
      new Probe("BIO_new_bio_pair", "bio_new_bio_pair_enter", false),
      new Probe("BIO_new_bio_pair", "bio_new_bio_pair_return", true),
      new Probe("BIO_write", "bio_write", false));
  /** A Go function: its entry, and each of its RET instructions for its return (none for Write: see go_tls.bpf.h). */
  record GoProbe(String function, String entry, @Nullable String exit) {}

  /** Go's crypto/tls (go_tls.bpf.h). */
  static final List<GoProbe> GO = List.of(
      new GoProbe("crypto/tls.(*Conn).Write", "go_tls_write_enter", null),
      new GoProbe("crypto/tls.(*Conn).Read", "go_tls_read_enter", "go_tls_read_return"));
  /** The oldest Go whose register ABI and build information the probes read. */
  private static final int GO_MINOR_MINIMUM = 18;
  private static final Pattern GO_RELEASE = Pattern.compile("go1\\.(\\d{1,4})");

  static final List<String> PROGRAMS = Stream.concat(OPENSSL.stream().map(Probe::program),
      GO.stream().flatMap(p -> Stream.of(p.entry(), p.exit()))).distinct().toList();

  /** Library files probed at most: each costs uprobes in the kernel; more are counted, not attached. */
  static final int MAX_LIBRARIES = 256;
  /** Processes remembered as scanned; past this the memory starts over (a rescan is harmless). */
  private static final int MAX_SCANNED = 65_536;
  /**
   * Every this many refreshes (30 s at the agent's 2 s) every process's maps are read again, not
   * only new ones': a library loaded late (python's ssl module on its first import, in a container
   * whose libssl is not the host's) is found then.
   */
  static final int RESCAN_EVERY = 15;
  private static final List<Path> LIBRARY_DIRECTORIES = List.of(Path.of("/usr/lib/x86_64-linux-gnu"),
      Path.of("/lib/x86_64-linux-gnu"), Path.of("/usr/lib/aarch64-linux-gnu"), Path.of("/usr/lib64"),
      Path.of("/lib64"), Path.of("/usr/lib"), Path.of("/usr/local/lib"));
  private static final int ENOENT = 2;
  private static final int ESRCH = 3;

  /** A file, as the kernel knows it: uprobes attach to the inode. */
  private record FileKey(long device, long inode) {}

  private final BpfObject object;
  private final Path proc;
  private final Set<FileKey> probed = new HashSet<>();
  /** Executables looked at for a TLS library of their own (bounded with the processes scanned). */
  private final Set<FileKey> executables = new HashSet<>();
  private final Set<Integer> scanned = new HashSet<>();
  /** Read by other threads (the banner, /metrics): written only by the capture thread. */
  private final List<String> libraries = new CopyOnWriteArrayList<>();
  private volatile int skipped;
  private int refreshes;

  private final BpfMap execs;
  private final MemorySegment execPid = Arena.ofAuto().allocate(ValueLayout.JAVA_INT);

  TlsProbes(BpfObject object, Path proc) {
    this.object = object;
    this.proc = proc;
    this.execs = object.map("tls_execs");
  }

  /** The standard locations and every running process. */
  void start() {
    for (Path dir : LIBRARY_DIRECTORIES) {
      try (DirectoryStream<Path> libs = Files.newDirectoryStream(dir, "{libssl,libcrypto}.so*")) {
        for (Path lib : libs) {
          probe(lib);
        }
      } catch (IOException e) {
        // not on this distribution
      }
    }
    refresh();
  }

  /**
   * Probes what the traced processes that exec'd since the last call map (the kernel queues them,
   * {@code tls_execs}): a short-lived program is probed milliseconds after it starts. A pid
   * scanned before its exec is scanned again: it runs another program now.
   */
  void probeExecs() {
    while (execs.pop(execPid)) {
      int pid = execPid.get(ValueLayout.JAVA_INT, 0);
      scanned.add(pid);
      scanMaps(proc.resolve(Integer.toString(pid)));
    }
  }

  /**
   * Looks at the processes started since the last call, and probes the TLS libraries they map;
   * every {@link #RESCAN_EVERY} calls, at every process again.
   */
  void refresh() {
    if (++refreshes % RESCAN_EVERY == 0 || scanned.size() > MAX_SCANNED) {
      scanned.clear();
    }
    if (executables.size() > MAX_SCANNED) {
      executables.clear();
    }
    try (Stream<Path> entries = Files.list(proc)) {
      Set<Integer> running = new HashSet<>();
      for (Path entry : entries.toList()) {
        String name = entry.getFileName().toString();
        if (!name.isEmpty() && Character.isDigit(name.charAt(0))) {
          int pid = Integer.parseInt(name);
          running.add(pid);
          if (scanned.add(pid)) {
            scanMaps(entry);
          }
        }
      }
      // Forget the processes that ended, so a pid the kernel hands out again is looked at again.
      scanned.retainAll(running);
    } catch (IOException | NumberFormatException e) {
      // /proc unreadable: nothing new found this time
    }
  }

  private void scanMaps(Path process) {
    probeExecutable(process);
    List<String> maps;
    try {
      maps = Files.readAllLines(process.resolve("maps"));
    } catch (IOException | RuntimeException e) {
      return; // gone, or not ours to read
    }
    for (String line : maps) {
      int path = line.indexOf('/');
      if (path > 0 && (line.indexOf("libssl.so", path) > 0 || line.indexOf("libcrypto.so", path) > 0)) {
        probe(asSeenBy(process, line.substring(path)));
      }
    }
  }

  /**
   * A program that carries its own TLS library and exports its functions (node's builds of
   * OpenSSL): the same probes on the executable; or a Go program that links crypto/tls. Each
   * executable file is looked at once.
   */
  private void probeExecutable(Path process) {
    Path exe;
    FileKey key;
    try {
      exe = asSeenBy(process, Files.readSymbolicLink(process.resolve("exe")).toString());
      key = key(exe);
    } catch (IOException | RuntimeException e) {
      return; // a kernel thread, gone, or not ours to read
    }
    if (!executables.add(key)) {
      return;
    }
    try (ElfSymbols elf = ElfSymbols.open(exe)) {
      if (elf.definesFunction("SSL_write")) {
        probe(exe, key, elf);
      } else if (elf.definesGoFunction(GO.get(0).function())) {
        probeGo(exe, key, elf);
      }
    } catch (IOException e) {
      // not an ELF file we read
    }
  }

  /**
   * A file a process names, as the agent reaches it: through the process's root when it has its
   * own (a container), else as it is (which stays valid after a short-lived process is gone).
   */
  private Path asSeenBy(Path process, String file) {
    Path root = process.resolve("root");
    try {
      if (Files.isSameFile(root, Path.of("/"))) {
        return Path.of(file);
      }
    } catch (IOException e) {
      // gone: its root cannot be told
    }
    return root.resolve(file.substring(1));
  }

  /**
   * A Go program: the entry of each crypto/tls function, and each of its RETs, found by decoding
   * its machine code. A program whose Go release or code cannot be read is counted and left
   * alone: a return probe missed would leave calls open, one misplaced would corrupt it.
   */
  private void probeGo(Path exe, FileKey key, ElfSymbols elf) {
    if (probed.contains(key)) {
      return;
    }
    String version = elf.goVersion().orElse("");
    Map<GoProbe, ElfSymbols.Function> functions = new LinkedHashMap<>();
    Map<GoProbe, int[]> returns = new LinkedHashMap<>();
    for (GoProbe p : GO) {
      elf.function(p.function()).ifPresent(f -> functions.put(p, f));
      if (p.exit() != null) {
        returns.put(p, functions.containsKey(p) ? X86Returns.offsets(functions.get(p).code()) : new int[0]);
      }
    }
    boolean tooOld = goMinor(version) < GO_MINOR_MINIMUM;
    if (tooOld || functions.size() < GO.size() || returns.values().stream().anyMatch(r -> r.length == 0)) {
      skipped++;
      KernelCapture.LOG.log(System.Logger.Level.WARNING, "Go program {0} ({1}) not probed for TLS: {2}", exe,
          version.isEmpty() ? "Go release unknown" : version, tooOld
              ? "Go before 1." + GO_MINOR_MINIMUM + " is not read" : "its crypto/tls code did not decode");
      return;
    }
    if (probed.size() >= MAX_LIBRARIES) {
      skipped++;
      return;
    }
    probed.add(key);
    try {
      // By file offset: a stripped program has no symbol for libbpf to find.
      for (GoProbe p : GO) {
        long entry = functions.get(p).fileOffset();
        object.attachUprobeAt(p.entry(), exe.toString(), entry);
        for (int offset : returns.getOrDefault(p, new int[0])) {
          object.attachUprobeAt(p.exit(), exe.toString(), entry + offset);
        }
      }
      added(exe + " (" + version + ")");
    } catch (BpfException e) {
      KernelCapture.LOG.log(System.Logger.Level.WARNING, "Go program {0} not probed for TLS: {1}", exe,
          e.getMessage());
    }
  }

  /** 19 for go1.19.8; 0 when it is not a Go release's name. */
  static int goMinor(String version) {
    Matcher m = GO_RELEASE.matcher(version);
    return m.lookingAt() ? Integer.parseInt(m.group(1)) : 0;
  }


  private static FileKey key(Path file) throws IOException {
    return new FileKey(((Number) Files.getAttribute(file, "unix:dev")).longValue(),
        ((Number) Files.getAttribute(file, "unix:ino")).longValue());
  }

  /** A library file: every probe whose function it defines; once per file. */
  private void probe(Path file) {
    FileKey key;
    try {
      key = key(file);
    } catch (IOException | RuntimeException e) {
      return;
    }
    if (probed.contains(key)) {
      return;
    }
    try (ElfSymbols elf = ElfSymbols.open(file)) {
      probe(file, key, elf);
    } catch (IOException e) {
      // not an ELF file we read
    }
  }

  private void probe(Path file, FileKey key, ElfSymbols elf) {
    if (probed.contains(key)) {
      return;
    }
    if (probed.size() >= MAX_LIBRARIES) {
      skipped++;
      return;
    }
    probed.add(key);
    int attached = 0;
    for (Probe p : OPENSSL) {
      if (!elf.definesFunction(p.function())) {
        continue; // not in this build, or in the other library (libssl's SSL_*, libcrypto's BIO_*)
      }
      try {
        object.attachUprobe(p.program(), file.toString(), p.function(), p.retprobe());
        attached++;
      } catch (BpfException e) {
        if (e.errno() != ENOENT && e.errno() != ESRCH) {
          KernelCapture.LOG.log(System.Logger.Level.WARNING, "TLS probe {0} not attached: {1}", p.function(),
              e.getMessage());
        }
      }
    }
    if (attached > 0) {
      added(file.toString());
    }
  }

  private void added(String file) {
    libraries.add(file);
    KernelCapture.LOG.log(System.Logger.Level.INFO, "TLS plaintext from {0}", file);
  }

  /** The library files probed. */
  List<String> libraries() {
    return List.copyOf(libraries);
  }

  /**
   * Files with TLS code not probed: found beyond {@link #MAX_LIBRARIES}, or Go programs whose
   * release or code could not be read.
   */
  int skipped() {
    return skipped;
  }
}
