package io.periscope.agent.it;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.ToDoubleFunction;
import javax.imageio.ImageIO;

/**
 * The soak's samples as a PNG: one panel per measure, minutes across, each panel's scale from 0 to
 * its largest value, so that growth shows as a rising line and a flat one is flat. Java2D, headless:
 * no plotting library for one picture.
 */
final class SoakPlot {
  private static final int WIDTH = 960;
  private static final int PANEL_HEIGHT = 150;
  private static final int LEFT = 80;
  private static final int RIGHT = 20;
  private static final int TOP = 30;

  private record Panel(String title, ToDoubleFunction<SoakTest.Sample> value) {}

  private static final List<Panel> PANELS = List.of(
      new Panel("agent resident memory (MB)", SoakTest.Sample::rssMb),
      new Panel("file descriptors", SoakTest.Sample::fds),
      new Panel("threads", SoakTest.Sample::threads),
      new Panel("connections tracked", SoakTest.Sample::connectionsOpen),
      new Panel("spans waiting for export", SoakTest.Sample::exportQueue));

  private SoakPlot() {}

  static void write(List<SoakTest.Sample> samples, Path png) throws IOException {
    int height = TOP + PANELS.size() * (PANEL_HEIGHT + TOP) + 20;
    BufferedImage image = new BufferedImage(WIDTH, height, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, WIDTH, height);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    double minutes = samples.isEmpty() ? 1 : Math.max(samples.getLast().minutes(), 1e-9);
    for (int p = 0; p < PANELS.size(); p++) {
      int top = TOP + p * (PANEL_HEIGHT + TOP);
      draw(g, PANELS.get(p), samples, minutes, top);
    }
    g.setColor(Color.DARK_GRAY);
    g.drawString("minutes since the load began (%.0f in all)".formatted(minutes), LEFT, height - 6);
    g.dispose();
    ImageIO.write(image, "png", png.toFile());
  }

  private static void draw(Graphics2D g, Panel panel, List<SoakTest.Sample> samples, double minutes, int top) {
    int plotWidth = WIDTH - LEFT - RIGHT;
    double max = samples.stream().mapToDouble(panel.value()).max().orElse(1);
    max = max <= 0 ? 1 : max * 1.1;
    g.setColor(Color.BLACK);
    g.drawString(panel.title(), LEFT, top - 8);
    g.setColor(Color.LIGHT_GRAY);
    g.drawRect(LEFT, top, plotWidth, PANEL_HEIGHT);
    g.setColor(Color.DARK_GRAY);
    g.drawString("%.0f".formatted(max), 8, top + 12);
    g.drawString("0", 8, top + PANEL_HEIGHT);
    g.setColor(new Color(0x1f, 0x77, 0xb4));
    g.setStroke(new BasicStroke(2f));
    int lastX = -1;
    int lastY = -1;
    for (SoakTest.Sample s : samples) {
      int x = LEFT + (int) Math.round(s.minutes() / minutes * plotWidth);
      int y = top + PANEL_HEIGHT - (int) Math.round(panel.value().applyAsDouble(s) / max * PANEL_HEIGHT);
      if (lastX >= 0) {
        g.drawLine(lastX, lastY, x, y);
      }
      g.fillOval(x - 2, y - 2, 4, 4);
      lastX = x;
      lastY = y;
    }
    g.setStroke(new BasicStroke(1f));
  }
}
