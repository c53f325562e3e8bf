-- wrk script: POSTs Stripe-signed 1 KB webhook events, each with a new event id, signed with
-- HMAC-SHA256 from libcrypto through LuaJIT's FFI (the same OpenSSL the gateway uses).
-- Environment: WEBHOOK_SECRET (whsec_…), WEBHOOK_PATH (/webhooks/stripe/<endpoint id>).
local ffi = require("ffi")
ffi.cdef[[
const void *EVP_sha256(void);
unsigned char *HMAC(const void *evp_md, const void *key, int key_len, const unsigned char *d, size_t n,
                    unsigned char *md, unsigned int *md_len);
]]
local crypto = ffi.load("crypto")
local secret = os.getenv("WEBHOOK_SECRET")
local path = os.getenv("WEBHOOK_PATH")
local mac = ffi.new("unsigned char[32]")
local maclen = ffi.new("unsigned int[1]")
local hexdigits = {}
for i = 0, 255 do hexdigits[i] = string.format("%02x", i) end
local padding = string.rep("x", 880)
local counter = 0
-- Event ids are unique per run and thread: the run's start time and the thread's number.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("prefix", os.time() .. "_" .. threads)
end

local function hmac_hex(message)
  crypto.HMAC(crypto.EVP_sha256(), secret, #secret, message, #message, mac, maclen)
  local parts = {}
  for i = 0, 31 do parts[i + 1] = hexdigits[mac[i]] end
  return table.concat(parts)
end

function request()
  counter = counter + 1
  local body = '{"id":"evt_bench_' .. prefix .. '_' .. counter .. '","object":"event","type":"invoice.paid",'
    .. '"created":' .. os.time() .. ',"data":{"object":{"id":"in_bench","pad":"' .. padding .. '"}}}'
  local t = tostring(os.time())
  local headers = {
    ["Content-Type"] = "application/json",
    ["Stripe-Signature"] = "t=" .. t .. ",v1=" .. hmac_hex(t .. "." .. body),
  }
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d errors=%d non2xx_status=%d\n",
    summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
