-- wrk at a fixed request rate (what wrk2 does; Debian has no wrk2): wrk calls delay()
-- before each request on a connection, so CONNECTIONS connections that each wait
-- CONNECTIONS / RATE seconds between requests send about RATE requests per second.
-- Latency is timed from the request's first byte to the response's last, in microseconds.
local rate = tonumber(os.getenv("RATE") or "1000")
local connections = tonumber(os.getenv("CONNECTIONS") or "10")

function delay()
  return 1000 * connections / rate
end
