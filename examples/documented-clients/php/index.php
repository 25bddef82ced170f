<?php
// The PHP service: PHP's built-in server on PORT (8000 on the platform), calling other
// services through the documented InternalCallUtil (curl).
//
//   GET  /call/get?to=ID   internal_call_get: query parameters and custom headers
//   POST /call/post?to=ID  internal_call_post: form fields (the helper takes an array)
//
// Each answers 200 {"result": ...} or 502 {"error": "<the helper's exception message>"}.
require __DIR__ . '/InternalCallUtil.php';

use App\Utils\InternalCallUtil;

$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$to = $_GET['to'] ?? '';
$util = new InternalCallUtil();
header('Content-Type: application/json');

try {
    if ($path === '/v1/ping') {
        header('Content-Type: text/plain');
        echo 'pong';
        return;
    } elseif ($path === '/call/get') {
        $result = $util->internal_call_get('/api/get_result', $to, ['num' => '1', 'lang' => 'php'], ['X-Request-Id: php-get', 'X-Custom-Header: from php']);
    } elseif ($path === '/call/post') {
        $result = $util->internal_call_post('/api/post_result', $to, ['lang' => 'php', 'items' => '1,2,3'], ['X-Request-Id: php-post']);
    } else {
        http_response_code(404);
        echo '{}';
        return;
    }
    echo json_encode(['result' => $result]);
} catch (Exception $e) {
    http_response_code(502);
    echo json_encode(['error' => $e->getMessage()]);
}
