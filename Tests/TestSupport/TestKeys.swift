/// Key material for tests only — generated for this project, never used anywhere real.
public enum TestKeys {
    /// An RSA key and a self-signed certificate for it, standing in for PayPal's webhook signing
    /// certificate (`openssl req -x509 -newkey rsa:2048`, CN messageverificationcerts.sandbox.nexa.test).
    public static let paypalPrivateKeyPEM = """
-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDeH/nuXtFPnGXv
auShND6DZVKrYyXvc8rrI8haNZ44LEDAlA8En4s1N3BfLeNQIISMSzC66HlKDH2b
HgwJR1k9MQhwx8bTwZ/p0TWAYQCkpsZd8vOJXKJYQMJErZ7CTpHXTGS23rDo5nNh
AfLtQkLwxTXcb5htJaSZ1Mk+YEaCBsu0r+cF0GXvbkW7JqDq6Up6MaQcFEJPHAdz
2kCf2Tor+4vuCa8Fx56sr14ZhxT3MoTI1qg7r+ZdwYoVQYPPOwa9EcPq3AKrMBbP
Kgsaa+nOjQgcuJBnLDQsfvQ74UqwQyPS3NlRuA4cfKSG8UMdtcePk4aYyyfj/9s3
q5XJBj6rAgMBAAECggEAHv0JCjdSLjAcjH02LkMyoXQmR2DKrxBRc+KHFga67w1F
b1h4i+WSLzdvxueI+em/dC8dOkYqfakmcNiNR1Ib4gyQJ+PHGk29+InGVAW0aEQY
Eo1NapFw2K0YLSqnpmX9tLKkrlp9BdD4scTq1izTV/G7ZOhwtHF2+DsWZExcKdF0
SB3IGEFOauKefy4PnwcP2qHq7fS16xOvfoktiYqyWBy9KSugObzemDntBuA8CTRc
Mc/OjCz1TIhKk5pn6m1TnBvpPQP8gpcNLQD3rXAEGWra0lHmwUhHAQ0LvB5UqmLg
DoRAp/hnvt6UwD+sxlhfVSME+k5yE+OHKLfVHg7SGQKBgQD51v/+F+K1Ms1C7Wxz
IXWym3tjMVpIILL3t2eDqfqHbE0GmKUpTWHOx5tV+Av+qxrAWxJuV15oqmiIaIGj
OyWC2kg01Y38k9EmfRU7BbCAcmIaJrcWDaTEViS+BMT22kO/wtKI9pDpTJQNcE8h
mZu5DhkqOihX/ycACEuuwXlx3QKBgQDjmgnWrDPITp4dxdgBA10OkZRbvnggNezl
OgHl2P7tziCOLxhhZQpUBae47PJBddQ/yj/ACcuq9k5dGKkLB8yoxvDxz823D3WR
pw5TamQtinPHF7mZ2BYPAXE7wSy2mSrcnihL7QdmdqMFm4Hf8MOTNZ4HcBiKHBLC
CNjy/QYeJwKBgFfk24p4vLkidjPlcxHN46pCKNZstmZJmqyrSS94zTp3T2HSscgm
ARLOBkfoS8/8Qh0J7SIEeqI30S6sFW9nj3rJcD2mI52IIzx3JNDu33lQxFKO7DpF
8oFgDO0MoH53qv37fDXTCIgK+MsBh9U6RR6FZzUD4M2UZhQM1xNT3XXBAoGBAJvN
s9R3t070unqJF8/BvK8fax7OqS7rm0pjxi7Qt9qUk2ahyJ/LaiGQaXtHAKNdBLnS
Ooe8bOaQi55hJj79zNTwsrnl1d3twD6/zCfAGemu8IimrhApgxgslZYhK/mnqlay
EcW/8aPrrLdG98YT693XA2H2E2Zfx1t6cQENwmVbAoGBAKb5JO7y8twK+FH4kSus
JUJdLY1MBmkUYjm+iSidtGSkLGIlfBsligA/8gSQB6FUjZJ6IajmAFSMdKmoKyWT
LwzcQuTU6KrwJyAyFX7jFClL0s8zZ5ctlLOhva+qmqBke/jiPB6LIEj3AC/BWhgT
27dtp8/BUiVu7mekVLMFEOUI
-----END PRIVATE KEY-----
"""

    public static let paypalCertificatePEM = """
-----BEGIN CERTIFICATE-----
MIIDfzCCAmegAwIBAgIUZhrycaa26orIwVuVKarooKeOmnowDQYJKoZIhvcNAQEL
BQAwTjEzMDEGA1UEAwwqbWVzc2FnZXZlcmlmaWNhdGlvbmNlcnRzLnNhbmRib3gu
bmV4YS50ZXN0MRcwFQYDVQQKDA5OZXhhIHRlc3Qgb25seTAgFw0yNjExMjkxMTI0
MjNaGA8yMTI2MTEwNTExMjQyM1owTjEzMDEGA1UEAwwqbWVzc2FnZXZlcmlmaWNh
dGlvbmNlcnRzLnNhbmRib3gubmV4YS50ZXN0MRcwFQYDVQQKDA5OZXhhIHRlc3Qg
b25seTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAN4f+e5e0U+cZe9q
5KE0PoNlUqtjJe9zyusjyFo1njgsQMCUDwSfizU3cF8t41AghIxLMLroeUoMfZse
DAlHWT0xCHDHxtPBn+nRNYBhAKSmxl3y84lcolhAwkStnsJOkddMZLbesOjmc2EB
8u1CQvDFNdxvmG0lpJnUyT5gRoIGy7Sv5wXQZe9uRbsmoOrpSnoxpBwUQk8cB3Pa
QJ/ZOiv7i+4JrwXHnqyvXhmHFPcyhMjWqDuv5l3BihVBg887Br0Rw+rcAqswFs8q
Cxpr6c6NCBy4kGcsNCx+9DvhSrBDI9Lc2VG4Dhx8pIbxQx21x4+ThpjLJ+P/2zer
lckGPqsCAwEAAaNTMFEwHQYDVR0OBBYEFLIPL8GcOjre992qYPQPJqf7HUjRMB8G
A1UdIwQYMBaAFLIPL8GcOjre992qYPQPJqf7HUjRMA8GA1UdEwEB/wQFMAMBAf8w
DQYJKoZIhvcNAQELBQADggEBAK6HXMadm4Cn91bkQxbe9nnXEAomXxa1NT91TLvK
vfBERJJrZXgEIzdqsR3o5BSsXHc0nsIMbzd0kX5mgDR0BLDjGHzhJsbLU92c2jMw
3ee7qZ3a9MS49C4RC+MH1Z9OLk7rxoGubd6adWCwvpK/BZM+7R/u5k7rRuGXn6WF
o4rBp4KHbO1xF4ojlOxz9tInzPuYM8Fayma/VSOvrEdMQ8z4LBm8j9gpo9R4RGin
TqbK9bujZtiSDkxjaHoja608ync7o/AEJlhlO29BMsIglNXVv9zYAAo07Ypyzrh4
/03NDDixAYtQAgggQYSEAGJ0hoRce20xrs2tRyHHqAwKX/U=
-----END CERTIFICATE-----
"""

    /// SendGrid's stand-in ECDSA P-256 pair, from the provider reference (test use only).
    public static let sendgridPrivateKeyPEM = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7ensGZUwMNVvydy+
XxABR0HCKAFPLTC5YUkLB8+5vduhRANCAAT9f0Ufm1/aBMVUYJhiv9NoWMyQg7+2
ff2HXHkRExO+fG8uAN7ovnnaqJYZ6LKm7WXFNC1J8/b0RY5oEanXXmj0
-----END PRIVATE KEY-----
"""
    public static let sendgridPublicKey = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/X9FH5tf2gTFVGCYYr/TaFjMkIO/tn39h1x5ERMTvnxvLgDe6L552qiWGeiypu1lxTQtSfP29EWOaBGp115o9A=="

    /// A test certificate authority standing in for the CA bundle PayPal's certificates chain to
    /// (valid for a century), and the signing key's certificate issued by it.
    public static let paypalCAPEM = """
        -----BEGIN CERTIFICATE-----
        MIIDHzCCAgegAwIBAgIUPNZnNJABcKvai0fCHM4/rQlCLK4wDQYJKoZIhvcNAQEL
        BQAwHjEcMBoGA1UEAwwTTmV4YSBUZXN0IFBheVBhbCBDQTAgFw0yNjEyMDYwNDM2
        MjNaGA8yMTI2MTExMjA0MzYyM1owHjEcMBoGA1UEAwwTTmV4YSBUZXN0IFBheVBh
        bCBDQTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAKTvffELrAlIbzti
        KfVTBrCS9klZQZ6NVwrs9+loKdNn19XSNN5WAlaKKDyh52bOEeoT5TCmPLFIioLK
        MQ+t043pK/yF/W2ImKIy26wXwQkZo+GkdhHO/Ifw1kEbFbjuEasU8hNgadpDPMd+
        X+fCVu4flH/GQXS0RuSvhzABYrE5XxNQOfBcAe63a0aD8aB+Gpd3HCMEkb1Zt7B0
        Pd0Cv6DmCQCHMS0/xl75dUb6pJEADBCfqswbp7F5VQb5PYmOp5nD2L4JIs30sNoE
        0ztFq1n9FBNjN6uyZzX59wvQyd+j1Ly8CJJE5IJUjH13Um5hkjBCHiIfNZpu3OT0
        IQ11nFcCAwEAAaNTMFEwHQYDVR0OBBYEFK3qf6Ce0Aj0OLoJHarjCVlnlfctMB8G
        A1UdIwQYMBaAFK3qf6Ce0Aj0OLoJHarjCVlnlfctMA8GA1UdEwEB/wQFMAMBAf8w
        DQYJKoZIhvcNAQELBQADggEBAFD6MDdEk0z0GfFj025hmmaJ4g2oj4H3u86kowjp
        SZOTNoSX7iNeslkZmDmy2AgT+janPVMG47uA3uZUsre1BDywSToOwH5y44gmwnOF
        dVNTZ3gaQpP0KFABpJzRnbuK7Isnjw4vbJWOPCWsvwDVeyer+zrPqcagBm5DoTUF
        LPKH8U+xhxqiHVWOxLJpuvgs3Q12UmVXp2UiVHp280XGUKp+w0sRO3ahDsHjWHN8
        5S/TEB56NUp+vJ4LxU2sUbT4kmUoZKe32FnummsFObGVQ3gdhj4mIIpkJi4rOQSX
        Aalmpf8UvBmsLFqgKgnfNHk/mthjZv2esiMNby4jarZPwFU=
        -----END CERTIFICATE-----
        """

    public static let paypalChainedCertificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIC1jCCAb4CFGIPFw3r5PJIXZ3jKuzMg9U/VhwtMA0GCSqGSIb3DQEBCwUAMB4x
        HDAaBgNVBAMME05leGEgVGVzdCBQYXlQYWwgQ0EwIBcNMjYxMjA2MDQzNjIzWhgP
        MjEyNjExMTIwNDM2MjNaMC8xLTArBgNVBAMMJG1lc3NhZ2V2ZXJpZmljYXRpb25j
        ZXJ0cy5wYXlwYWwudGVzdDCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEB
        AN4f+e5e0U+cZe9q5KE0PoNlUqtjJe9zyusjyFo1njgsQMCUDwSfizU3cF8t41Ag
        hIxLMLroeUoMfZseDAlHWT0xCHDHxtPBn+nRNYBhAKSmxl3y84lcolhAwkStnsJO
        kddMZLbesOjmc2EB8u1CQvDFNdxvmG0lpJnUyT5gRoIGy7Sv5wXQZe9uRbsmoOrp
        SnoxpBwUQk8cB3PaQJ/ZOiv7i+4JrwXHnqyvXhmHFPcyhMjWqDuv5l3BihVBg887
        Br0Rw+rcAqswFs8qCxpr6c6NCBy4kGcsNCx+9DvhSrBDI9Lc2VG4Dhx8pIbxQx21
        x4+ThpjLJ+P/2zerlckGPqsCAwEAATANBgkqhkiG9w0BAQsFAAOCAQEAGjadL80g
        gBs7Ih2oGdwX29ULzsanH01si0L+6E8/3ZSfLMRlnuXoHiFWoPjoMaWi90Mkb60a
        gALFcBEpAPgZ1Ko4JpZagrM2ltDjAxsYcVUzqhgul8u0FRJkAxeeLkHYd8k6XhFJ
        RlXbLUI/W2qUgdpI1hz1W8KSBIrOyecfaKz77Bga1ibqh/5UjK0Q6JwezEQXBP8n
        X++iI9kbDTaavbTbEpwguCWDWoSXPiaQaIAS119l7R8BRPLxBBEDgpNKh3z8iSMR
        GN3oTiHc3lMWU+bnS9fQId1IHo+jP5stD/3p5GUgi+bta87+uVl1DXqaeWRwBnE+
        aG0E1CDZOIGb3A==
        -----END CERTIFICATE-----
        """
}
