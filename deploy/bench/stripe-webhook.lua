-- wrk script: POSTs Stripe-signed 1 KB webhook events, each with a new event id, signed with
-- HMAC-SHA256 from libcrypto through LuaJIT's FFI (the same OpenSSL the gateway uses).
-- Environment: WEBHOOK_SECRET (whsec_…), WEBHOOK_PATH (/webhooks/stripe/<endpoint id>).
-- Each request is one string built in one concatenation: the signature is computed over the
-- body's pieces (no body string of its own), so the generator spends little of the CPU it shares
-- with the system under test.
local ffi = require("ffi")
ffi.cdef[[
typedef struct hmac_ctx_st HMAC_CTX;
const void *EVP_sha256(void);
HMAC_CTX *HMAC_CTX_new(void);
int HMAC_Init_ex(HMAC_CTX *ctx, const void *key, int key_len, const void *md, void *impl);
int HMAC_Update(HMAC_CTX *ctx, const unsigned char *data, size_t n);
int HMAC_Final(HMAC_CTX *ctx, unsigned char *md, unsigned int *md_len);
]]
local crypto = ffi.load("crypto")
local secret = os.getenv("WEBHOOK_SECRET")
local path = os.getenv("WEBHOOK_PATH")
local hmac = crypto.HMAC_CTX_new()
crypto.HMAC_Init_ex(hmac, secret, #secret, crypto.EVP_sha256(), nil)
local mac = ffi.new("unsigned char[32]")
local maclen = ffi.new("unsigned int[1]")
local hex = ffi.new("char[64]")
local digits = ffi.new("const char[16]", "0123456789abcdef")
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("prefix", os.time() .. "_" .. threads)
end

local head, bodyStart, bodyMiddle, bodyEnd
local function update(s) crypto.HMAC_Update(hmac, s, #s) end

function request()
  if head == nil then
    head = "POST " .. path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] .. "\r\nContent-Type: application/json\r\n"
    bodyStart = '{"id":"evt_bench_' .. prefix .. '_'
    bodyMiddle = '","object":"event","type":"invoice.paid","created":'
    bodyEnd = ',"data":{"object":{"id":"in_bench","pad":"' .. string.rep("x", 880) .. '"}}}'
  end
  counter = counter + 1
  local n, t = tostring(counter), tostring(os.time())
  crypto.HMAC_Init_ex(hmac, nil, 0, nil, nil)  -- same key and digest: only resets
  update(t); update("."); update(bodyStart); update(n); update(bodyMiddle); update(t); update(bodyEnd)
  crypto.HMAC_Final(hmac, mac, maclen)
  for i = 0, 31 do
    hex[2 * i] = digits[bit.rshift(mac[i], 4)]
    hex[2 * i + 1] = digits[bit.band(mac[i], 15)]
  end
  local length = #bodyStart + #n + #bodyMiddle + #t + #bodyEnd
  return head .. "Content-Length: " .. length .. "\r\nStripe-Signature: t=" .. t .. ",v1=" .. ffi.string(hex, 64) .. "\r\n\r\n"
    .. bodyStart .. n .. bodyMiddle .. t .. bodyEnd
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d errors=%d non2xx_status=%d\n",
    summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
