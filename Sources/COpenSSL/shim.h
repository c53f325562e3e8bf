#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/rsa.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

/* EVP_PKEY_CTX_set_rsa_keygen_bits is a function in OpenSSL 3 but keep a typed wrapper. */
static inline int nexa_rsa_keygen_bits(EVP_PKEY_CTX *ctx, int bits) { return EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits); }

/* EVP_PKEY_PUBLIC_KEY is a compound macro Swift cannot import. */
static inline int nexa_evp_pkey_public_key_selection(void) { return EVP_PKEY_PUBLIC_KEY; }

/* OSSL_PARAM_BLD keeps the name pointer until to_param: pass the static literals from C, never a
   temporary string from Swift. */
static inline int nexa_param_bld_push_rsa_public(OSSL_PARAM_BLD *bld, const BIGNUM *n, const BIGNUM *e) {
    return OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1;
}

#include <openssl/x509.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
