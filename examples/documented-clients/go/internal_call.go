// The helpers from Douyin Cloud's documentation (服务间调用 → 完整示例 → Golang), copied
// as printed. Only what does not compile is fixed, each fix marked "FIX:". The printed
// InternalCallPost keeps its "%s-%s..inner-call" (two dots): an endpoint uses it as is,
// to show what the emulator answers; InternalCallPostFixed below has one dot.
package main

import (
	"fmt"
	"io"
	"io/ioutil" // FIX: used below (ioutil.ReadAll) but missing from the printed imports.
	"net/http"
	"net/url"
	"os"
)

// GET请求调用 path(例):/api/get_result?num=1
func InternalCallGet(path, toServiceID string, paramMap map[string]string, headers map[string]string) (string, error) {
	// 从环境变量中获取源服务id(即当前服务id)
	fromServiceID := os.Getenv("SERVICE_ID")
	// 构造url
	urlValue := &url.URL{
		Scheme: "http",
		Host:   fmt.Sprintf("%s-%s.inner-call.dyc.ivolces.com", fromServiceID, toServiceID),
		Path:   path,
	}
	params := url.Values{}
	for k, v := range paramMap {
		params.Set(k, v)
	}
	urlValue.RawQuery = params.Encode()
	urlPath := urlValue.String()
	// 构造Get请求体
	req, err := http.NewRequest("GET", urlPath, nil)
	if err != nil {
		return "", err // FIX: printed as `return nil, err`, which does not compile (nil is not a string).
	}
	// 添加headers
	for k, v := range headers {
		req.Header.Add(k, v)
	}
	// 执行Get请求
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	// 判断http状态码是否成功
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("err statuscode: %d", resp.StatusCode)
	}
	// 读取响应
	bodyBytes, err := ioutil.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	return string(bodyBytes), nil
}

// POST请求调用 path(例):/api/post_result
func InternalCallPost(path, toServiceID string, body io.Reader, headers map[string]string) (string, error) {
	// 从环境变量中获取源服务id(即当前服务id)
	fromServiceID := os.Getenv("SERVICE_ID")
	// 构造url
	urlPath := fmt.Sprintf("http://%s-%s..inner-call.dyc.ivolces.com%s", fromServiceID, toServiceID, path) // as printed: two dots
	// 构造POST请求体
	req, err := http.NewRequest("POST", urlPath, body)
	if err != nil {
		return "", err // FIX: printed as `return nil, err`, which does not compile (nil is not a string).
	}
	// 添加headers
	for k, v := range headers {
		req.Header.Add(k, v)
	}
	// 执行POST请求
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	// 判断http状态码是否成功
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("err statuscode: %d", resp.StatusCode)
	}
	// 读取响应
	bodyBytes, err := ioutil.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	return string(bodyBytes), nil
}

// InternalCallPostFixed is InternalCallPost with the one change a user has to make for it
// to work anywhere: a single dot in the host name.
func InternalCallPostFixed(path, toServiceID string, body io.Reader, headers map[string]string) (string, error) {
	fromServiceID := os.Getenv("SERVICE_ID")
	urlPath := fmt.Sprintf("http://%s-%s.inner-call.dyc.ivolces.com%s", fromServiceID, toServiceID, path) // FIX: one dot
	req, err := http.NewRequest("POST", urlPath, body)
	if err != nil {
		return "", err
	}
	for k, v := range headers {
		req.Header.Add(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("err statuscode: %d", resp.StatusCode)
	}
	bodyBytes, err := ioutil.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	return string(bodyBytes), nil
}
