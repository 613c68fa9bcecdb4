package io.periscope.metadata;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatNullPointerException;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ServiceNamesTest {

  @ParameterizedTest(name = "{0} -> {2}")
  @MethodSource
  void namesTheProgram(List<String> argv, String comm, String expected) {
    assertThat(ServiceNames.fromCommandLine(argv, comm)).isEqualTo(expected);
  }

  static Stream<Arguments> namesTheProgram() {
    return Stream.of(
        // plain programs
        arguments(List.of("curl", "http://x"), "curl", "curl"),
        arguments(List.of("/usr/sbin/nginx", "-g", "daemon off;"), "nginx", "nginx"),
        arguments(List.of("/usr/local/bin/envoy"), "envoy", "envoy"),
        arguments(List.of("-bash"), "bash", "bash"),
        // titles written over argv
        arguments(List.of("nginx: worker process"), "nginx", "nginx"),
        arguments(List.of("nginx: master process /usr/sbin/nginx -g daemon off;"), "nginx", "nginx"),
        arguments(List.of("postgres: 16/main: checkpointer"), "postgres", "postgres"),
        arguments(List.of("gunicorn: worker [app:app]"), "gunicorn", "gunicorn"),
        arguments(List.of("/usr/bin/python3 /srv/app.py --port 80"), "python3", "app"),
        // nothing to read
        arguments(List.of(), "kworker/0:1", "kworker/0:1"),
        arguments(List.of(), "", ServiceNames.UNKNOWN_SERVICE),
        arguments(List.of(""), "sshd", "sshd"),
        // python
        arguments(List.of("python3", "-m", "http.server", "8080"), "python3", "http.server"),
        arguments(List.of("python3", "/srv/app.py"), "python3", "app"),
        arguments(List.of("/usr/bin/python3.11", "-u", "manage.py", "runserver"), "python3.11", "manage"),
        arguments(List.of("python3", "-W", "ignore", "-X", "dev", "app.py"), "python3", "app"),
        arguments(List.of("python3", "-Wignore", "-Xdev", "-OO", "app.py"), "python3", "app"),
        arguments(List.of("python3", "-um", "http.server"), "python3", "http.server"),
        arguments(List.of("python3", "-mhttp.server"), "python3", "http.server"),
        arguments(List.of("python3", "-c", "import app; app.main()"), "python3", "python3"),
        arguments(List.of("python3", "-uc", "print(1)"), "python3", "python3"),
        arguments(List.of("python3", "--check-hash-based-pycs", "never", "worker.py"), "python3", "worker"),
        arguments(List.of("python3", "-", "arg"), "python3", "python3"),
        arguments(List.of("python3"), "python3", "python3"),
        arguments(List.of("python3", "-m"), "python3", "python3"),
        arguments(List.of("/usr/bin/python3", "/usr/local/bin/gunicorn", "app:app"), "gunicorn", "gunicorn"),
        arguments(List.of("pypy3", "server.py"), "pypy3", "server"),
        // java
        arguments(List.of("java", "-jar", "/opt/orders-1.2.jar"), "java", "orders-1.2"),
        arguments(List.of("java", "-cp", "x.jar", "com.acme.OrderService"), "java", "OrderService"),
        arguments(List.of("java", "-classpath", "x.jar:y.jar", "com.acme.OrderService", "--port", "8"), "java",
            "OrderService"),
        arguments(List.of("java", "--class-path", "x.jar", "Main"), "java", "Main"),
        arguments(List.of("java", "--class-path=x.jar", "com.acme.Billing"), "java", "Billing"),
        arguments(List.of("java", "-Dfoo=bar", "-jar", "app.jar"), "java", "app"),
        arguments(List.of("/usr/lib/jvm/temurin-25/bin/java", "-Xmx1g", "-XX:+UseZGC", "-jar", "app.jar", "-cp", "z"),
            "java", "app"),
        arguments(List.of("java", "-p", "mods", "-m", "com.acme/com.acme.Main"), "java", "Main"),
        arguments(List.of("java", "--module-path", "mods", "--module", "com.acme/Main"), "java", "Main"),
        arguments(List.of("java", "--module=com.acme/com.acme.Server"), "java", "Server"),
        arguments(List.of("java", "-m", "com.acme.orders"), "java", "com.acme.orders"),
        arguments(List.of("java", "--add-opens", "java.base/java.lang=ALL-UNNAMED", "-jar", "svc.jar"), "java", "svc"),
        arguments(List.of("java", "@/tmp/argfile", "com.acme.Main"), "java", "Main"),
        arguments(List.of("java", "Server.java"), "java", "Server"),
        arguments(List.of("java", "-version"), "java", "java"),
        arguments(List.of("java", "-jar"), "java", "java"),
        // node
        arguments(List.of("node", "server.js"), "node", "server"),
        arguments(List.of("/usr/bin/node", "--max-old-space-size=512", "-r", "dotenv/config", "dist/main.mjs"),
            "node", "main"),
        arguments(List.of("node", "--require", "./tracing.js", "app.js"), "node", "app"),
        arguments(List.of("node", "--import=tsx", "index.ts"), "node", "index"),
        arguments(List.of("nodejs", "-e", "require('http').createServer().listen(80)"), "nodejs", "nodejs"),
        arguments(List.of("node", "--", "server.js"), "node", "server"),
        // ruby, perl, php
        arguments(List.of("ruby", "app.rb"), "ruby", "app"),
        arguments(List.of("ruby3.2", "-I", "lib", "-rbundler/setup", "bin/server.rb"), "ruby3.2", "server"),
        arguments(List.of("ruby", "-W:no-deprecated", "app.rb"), "ruby", "app"),
        arguments(List.of("ruby", "-e", "puts 1"), "ruby", "ruby"),
        arguments(List.of("perl", "x.pl"), "perl", "x"),
        arguments(List.of("perl", "-wT", "-I", "lib", "-Mstrict", "cgi.pl"), "perl", "cgi"),
        arguments(List.of("perl", "-i.bake", "fix.pl"), "perl", "fix"),
        arguments(List.of("perl", "-e", "print 1"), "perl", "perl"),
        arguments(List.of("php", "artisan", "serve"), "php", "artisan"),
        arguments(List.of("php8.2", "-d", "memory_limit=1G", "-f", "worker.php"), "php8.2", "worker"),
        arguments(List.of("php", "-S", "0.0.0.0:8000", "-t", "public"), "php", "php"),
        arguments(List.of("php", "-r", "echo 1;"), "php", "php"),
        // names that look like interpreters but are not
        arguments(List.of("php-fpm: pool www"), "php-fpm", "php-fpm"),
        arguments(List.of("/usr/bin/python3-config", "--libs"), "python3-config", "python3-config"));
  }

  @Test
  void neverReturnsArguments() {
    String name = ServiceNames.fromCommandLine(List.of("psql", "postgres://user:s3cret@db/x"), "psql");

    assertThat(name).isEqualTo("psql");
  }

  @Test
  void rejectsNull() {
    assertThatNullPointerException().isThrownBy(() -> ServiceNames.fromCommandLine(null, "x"));
    assertThatNullPointerException().isThrownBy(() -> ServiceNames.fromCommandLine(List.of(), null));
  }
}
