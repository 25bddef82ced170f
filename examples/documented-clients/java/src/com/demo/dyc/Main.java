// The Java service: the JDK's HttpServer on PORT (8000 on the platform), calling other
// services through the documented InternalCallUtil (Apache HttpClient 4).
//
//   GET  /call/get?to=ID         InternalCallUtil.InternalCallGet: query parameters, custom headers
//   POST /call/post?to=ID        InternalCallUtil.InternalCallPost: a JSON body
//   GET  /call/get-system?to=ID  the same GET with HttpClients.createSystem(), which honours the
//                                JVM's proxy properties and so also routes in the process runtime
//
// Each answers 200 {"result": ...} or 502 {"error": "<exception class>: <message>"}.
package com.demo.dyc;

import com.demo.dyc.internal_call_java.utils.InternalCallUtil;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.apache.http.client.methods.CloseableHttpResponse;
import org.apache.http.client.methods.HttpGet;
import org.apache.http.client.utils.URIBuilder;
import org.apache.http.impl.client.CloseableHttpClient;
import org.apache.http.impl.client.HttpClients;
import org.apache.http.util.EntityUtils;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.concurrent.Executors;

public class Main {
    interface Call {
        String run(String to) throws Exception;
    }

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8000"));
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
        server.setExecutor(Executors.newCachedThreadPool());
        server.createContext("/v1/ping", exchange -> send(exchange, 200, "pong"));
        route(server, "/call/get", to -> InternalCallUtil.InternalCallGet("/api/get_result", to, params(), headers("java-get")));
        route(server, "/call/post", to -> {
            HashMap<String, String> headers = headers("java-post");
            return InternalCallUtil.InternalCallPost("/api/post_result", to, "{\"lang\":\"java\",\"items\":[1,2,3]}", headers);
        });
        route(server, "/call/get-system", to -> getWithSystemProperties("/api/get_result", to, params(), headers("java-get-system")));
        server.start();
        System.out.println("java service " + System.getenv("SERVICE_ID") + " listening on " + port);
    }

    /** InternalCallGet with one change: createSystem() instead of createDefault(). */
    static String getWithSystemProperties(String path, String toServiceID, HashMap<String, String> paramMap, HashMap<String, String> headers) throws Exception {
        String url = String.format("http://%s-%s.inner-call.dyc.ivolces.com%s", System.getenv("SERVICE_ID"), toServiceID, path);
        URIBuilder uri = new URIBuilder(url);
        paramMap.forEach(uri::addParameter);
        HttpGet httpGet = new HttpGet(uri.build());
        headers.forEach(httpGet::addHeader);
        try (CloseableHttpClient httpclient = HttpClients.createSystem(); // honours -Dhttp.proxyHost/-Dhttp.proxyPort
             CloseableHttpResponse response = httpclient.execute(httpGet)) {
            int statusCode = response.getStatusLine().getStatusCode();
            if (statusCode != 200) throw new Exception(String.valueOf(statusCode));
            return EntityUtils.toString(response.getEntity());
        }
    }

    static HashMap<String, String> params() {
        HashMap<String, String> params = new HashMap<>();
        params.put("num", "1");
        params.put("lang", "java");
        return params;
    }

    static HashMap<String, String> headers(String requestId) {
        HashMap<String, String> headers = new HashMap<>();
        headers.put("X-Request-Id", requestId);
        headers.put("X-Custom-Header", "from java");
        return headers;
    }

    static void route(HttpServer server, String path, Call call) {
        server.createContext(path, exchange -> {
            String query = exchange.getRequestURI().getQuery();
            String to = query != null && query.startsWith("to=") ? query.substring(3) : "";
            try {
                send(exchange, 200, "{\"result\":" + quote(call.run(to)) + "}");
            } catch (Throwable e) { // Errors too (a missing jar): the caller gets an answer, not a hung request
                send(exchange, 502, "{\"error\":" + quote(e.getClass().getName() + ": " + e.getMessage()) + "}");
            }
        });
    }

    static String quote(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }

    static void send(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", status == 200 && body.equals("pong") ? "text/plain" : "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }
}
