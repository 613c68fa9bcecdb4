package io.periscope.agent.testing;

import io.periscope.bpf.CaptureConfig;
import io.periscope.bpf.KernelCapture;
import io.periscope.bpf.RingBuffer;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Ring-buffer records saved to a file and read back, so the pipeline can be tested end to end on
 * traffic real peers produced. Each record is stored as its length (4 bytes, big-endian) and its
 * bytes. {@link #main} records live traffic: {@code RecordedEvents FILE SECONDS PORT...}.
 */
public final class RecordedEvents {
  private RecordedEvents() {}

  public static List<byte[]> read(InputStream in) throws IOException {
    List<byte[]> records = new ArrayList<>();
    DataInputStream data = new DataInputStream(in);
    while (true) {
      int length;
      try {
        length = data.readInt();
      } catch (EOFException end) {
        return records;
      }
      records.add(data.readNBytes(length));
    }
  }

  /** Feeds every record to the handler, as the ring buffer would. */
  public static void replay(List<byte[]> records, RingBuffer.RecordHandler handler) {
    for (byte[] r : records) {
      handler.onRecord(MemorySegment.ofArray(r), 0, r.length);
    }
  }

  public static void main(String[] args) throws Exception {
    Path file = Path.of(args[0]);
    long seconds = Long.parseLong(args[1]);
    Set<Integer> ports = new java.util.HashSet<>();
    for (int i = 2; i < args.length; i++) {
      ports.add(Integer.parseInt(args[i]));
    }
    CaptureConfig config = CaptureConfig.everything((int) ProcessHandle.current().pid()).withPorts(ports);
    try (KernelCapture capture = KernelCapture.start(config);
        OutputStream out = Files.newOutputStream(file);
        DataOutputStream data = new DataOutputStream(out)) {
      System.out.println("recording");
      long end = System.nanoTime() + seconds * 1_000_000_000L;
      while (System.nanoTime() < end) {
        capture.poll((memory, offset, length) -> {
          byte[] r = new byte[length];
          MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, offset, r, 0, length);
          try {
            data.writeInt(length);
            data.write(r);
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        });
        Thread.sleep(5);
      }
    }
  }
}
