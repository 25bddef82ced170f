-- wrk script: each request gets the next Host of $HOSTS (comma-separated), in turn.
-- bench/policies.mjs uses it to call three services in rotation, as a balancer spreads
-- calls over three replicas, without the balancer.
local hosts = {}
for host in string.gmatch(os.getenv("HOSTS") or "", "[^,]+") do table.insert(hosts, host) end
local i = 0
request = function()
  i = i % #hosts + 1
  wrk.headers["Host"] = hosts[i]
  return wrk.format()
end
