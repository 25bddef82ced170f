# The helpers from Douyin Cloud's documentation (服务间调用 → 完整示例 → Python), copied as
# printed: nothing needed fixing. requests honours http_proxy, so they also route in the
# process runtime.
import os
import requests


# GET请求调用 path()/api/get_result?num=1
def internal_call_get(to_service_id, path, param_map, headers):
    # 从环境变量中获取源服务id(即当前服务id)
    from_service_id = os.getenv('SERVICE_ID')
    # 构造url
    url = 'http://%s-%s.inner-call.dyc.ivolces.com%s' % (from_service_id, to_service_id, path)
    # 执行GET请求并读取响应
    try:
        response = requests.get(url, params=param_map, headers=headers)
        # 判断http状态码是否成功
        is_normal_status = response.status_code == 200
        if not is_normal_status:
            response.close()
            raise Exception("err statuscode: %d" % response.status_code)
        res = response.text
        response.close()
        return res
    except:
        raise


# POST请求调用 path()/api/post_result
def internal_call_post(to_service_id, path, body, headers):
    # 从环境变量中获取源服务id(即当前服务id)
    from_service_id = os.getenv('SERVICE_ID')
    # 构造url
    url = 'http://%s-%s.inner-call.dyc.ivolces.com%s' % (from_service_id, to_service_id, path)
    # 执行POST请求并读取响应
    try:
        response = requests.post(url, data=body, headers=headers)
        # 判断http状态码是否成功
        is_normal_status = response.status_code == 200
        if not is_normal_status:
            response.close()
            raise Exception("err statuscode: %d" % response.status_code)
        res = response.text
        response.close()
        return res
    except:
        raise
