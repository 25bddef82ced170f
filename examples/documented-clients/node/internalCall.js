// The helpers from Douyin Cloud's documentation (服务间调用 → 完整示例 → Nodejs), copied as
// printed; only the export at the end is added. axios honours HTTP_PROXY, so they also route
// in the process runtime. Note: axios rejects a non-2xx status itself, so a 403 surfaces as
// axios's "Request failed with status code 403", never as the helper's "err statuscode".
const axios = require("axios");
const util = require('util');

// GET请求调用 path(例):/api/get_result?num=1
async function internalCallGet(path, toServiceID, paramMap, headers) {
  // 从环境变量中获取源服务id(即当前服务id)
  let fromServiceID = process.env.SERVICE_ID;
  // 构造url
  let url = util.format("http://%s-%s.inner-call.dyc.ivolces.com%s", fromServiceID, toServiceID, path)
  // 添加headers
  let reqInstance = axios.create({
    headers: headers
  })
  // 执行GET请求并读取响应
  try {
    let res = await reqInstance.get(url, {"params": paramMap});
    // 判断http状态码是否成功
    if (res.status != 200) {
      throw new Error(util.format("err statuscode: %d", res.status));
    }
    return res.data;
  } catch(err) {
    throw err;
  }
}

// POST请求调用 path(例):/api/post_result
async function internalCallPost(path, toServiceID, body, headers) {
  // 从环境变量中获取源服务id(即当前服务id)
  let fromServiceID = process.env.SERVICE_ID;
  // 构造url
  let url = util.format("http://%s-%s.inner-call.dyc.ivolces.com%s", fromServiceID, toServiceID, path)
  // 添加headers
  let reqInstance = axios.create({
    headers: headers
  })
  // 执行POST请求并读取响应
  let res = await reqInstance.post(url, body).catch((err) => {
    throw err;
  });
  // 判断http状态码是否成功
  if (res.status != 200) {
    throw new Error(util.format("err statuscode: %d", res.status))
  }
  return res.data;
}

module.exports = { internalCallGet, internalCallPost }; // added: the page shows no export
