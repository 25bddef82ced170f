<?php
// The helpers from Douyin Cloud's documentation (服务间调用 → 完整示例 → PHP), copied as
// printed: nothing needed fixing. PHP's curl honours http_proxy, so they also route in the
// process runtime. internal_call_post takes `array $body`, which curl sends as
// multipart/form-data: with this helper a POST cannot carry a JSON body.

namespace App\Utils;

use Exception;

class InternalCallUtil
{
    // GET请求调用 path(例):/api/get_result?num=1
    function internal_call_get(string $path, string $to_service_id, array $param_map, array $headers): string
    {
        // 从环境变量中获取源服务id(即当前服务id)
        $from_service_id = getenv("SERVICE_ID");
        // 构造url
        $url = sprintf("http://%s-%s.inner-call.dyc.ivolces.com%s", $from_service_id, $to_service_id, $path);
        // 启动curl并设置请求参数
        $ch = curl_init();
        $timeout = 5;
        $i = 0;
        foreach($param_map as $x=>$x_value) {
            if ($i == 0) {
                $url .= "?";
            }
            $url = sprintf("%s%s=%s", $url, $x, $x_value);
            if ($i < count($param_map) - 1) {
                $url .= "&";
            }
            $i++;
        }
        curl_setopt ($ch, CURLOPT_URL, $url);
        curl_setopt ($ch, CURLOPT_RETURNTRANSFER, 1);
        curl_setopt ($ch, CURLOPT_CONNECTTIMEOUT, $timeout);
        curl_setopt($ch, CURLOPT_HTTPHEADER, $headers);
        // 执行GET请求并读取响应
        try {
            $file_contents = curl_exec($ch);
            $http_code = curl_getinfo($ch, CURLINFO_HTTP_CODE);
            // 判断http状态码是否成功
            if ($http_code != 200) {
                curl_close($ch);
                throw new Exception(sprintf("err statuscode: %s", $http_code));
            }
            curl_close($ch);
            return $file_contents;
        } catch (Exception $e) {
            curl_close($ch);
            throw $e;
        }
    }

    // POST请求调用 path(例):/api/post_result
    function internal_call_post(string $path, string $to_service_id, array $body, array $headers): string
    {
        // 从环境变量中获取源服务id(即当前服务id)
        $from_service_id = getenv("SERVICE_ID");
        // 构造url
        $url = sprintf("http://%s-%s.inner-call.dyc.ivolces.com%s", $from_service_id, $to_service_id, $path);
        // 启动curl并设置请求参数
        $ch = curl_init();
        $timeout = 5;
        curl_setopt ($ch, CURLOPT_URL, $url);
        curl_setopt ($ch, CURLOPT_RETURNTRANSFER, 1);
        curl_setopt ($ch, CURLOPT_CONNECTTIMEOUT, $timeout);
        curl_setopt($ch, CURLOPT_HTTPHEADER, $headers);
        curl_setopt($ch, CURLOPT_POST, 1);
        curl_setopt($ch, CURLOPT_POSTFIELDS, $body);
        // 执行POST请求并读取响应
        try {
            $file_contents = curl_exec($ch);
            $http_code = curl_getinfo($ch, CURLINFO_HTTP_CODE);
            // 判断http状态码是否成功
            if ($http_code != 200) {
                curl_close($ch);
                throw new Exception(sprintf("err statuscode: %s", $http_code));
            }
            curl_close($ch);
            return $file_contents;
        } catch (Exception $e) {
            curl_close($ch);
            throw $e;
        }
    }
}
