/// Certificates for the RPC mutual-TLS tests: a test CA, two services' certificates it issued, and
/// an impostor's. Generated with openssl for tests only; never used outside them.
public enum TestMesh {
    /// The mesh's test CA (P-256, valid for a century from 2026-12-06).
    public static let caPEM = """
        -----BEGIN CERTIFICATE-----
        MIIBkDCCATWgAwIBAgIUe16W/3o/TlPFVMm3JXom0NtSzzIwCgYIKoZIzj0EAwIw
        HDEaMBgGA1UEAwwRTmV4YSBUZXN0IE1lc2ggQ0EwIBcNMjYxMjA2MDQ0NzMzWhgP
        MjEyNjExMTIwNDQ3MzNaMBwxGjAYBgNVBAMMEU5leGEgVGVzdCBNZXNoIENBMFkw
        EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsRYCOwxd9Eha4XQ7RNYdUAt9xmNDBcWr
        ugIxSFhvoDaXJyN9pStjQJVmK4gLN/2k2oLkEJfh8g9MqVAllfSS8KNTMFEwHQYD
        VR0OBBYEFEMHDc33to6l5HrC3uKKtja/mNscMB8GA1UdIwQYMBaAFEMHDc33to6l
        5HrC3uKKtja/mNscMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIh
        AI0lWM1JJkXKI+GNZ9atozCpMgADgAd1JQrC62LOXXOEAiEA8Xeh1YcVcWa9gYqJ
        8tcABbdqhN3puNXFbbqQJ7oLnTg=
        -----END CERTIFICATE-----
        """

    /// `billing`'s certificate from the CA: CN billing, SAN localhost, billing, 127.0.0.1; server and client use.
    public static let billingCertificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIBxjCCAWugAwIBAgIUIOs4wkMKov7p/OqvDareZEevkEAwCgYIKoZIzj0EAwIw
        HDEaMBgGA1UEAwwRTmV4YSBUZXN0IE1lc2ggQ0EwIBcNMjYxMjA2MDQ0NzMzWhgP
        MjEyNjExMTIwNDQ3MzNaMBIxEDAOBgNVBAMMB2JpbGxpbmcwWTATBgcqhkjOPQIB
        BggqhkjOPQMBBwNCAAQqGGEQ+f6y5XuZCW/p8KRgx+UwdpPGEazpJNn+3yJDbUdy
        ljA46LXNlLVE1sR9X+mZT2B4uPFiNOAYU/gWfwmMo4GSMIGPMCMGA1UdEQQcMBqC
        CWxvY2FsaG9zdIIHYmlsbGluZ4cEfwAAATAdBgNVHSUEFjAUBggrBgEFBQcDAQYI
        KwYBBQUHAwIwCQYDVR0TBAIwADAdBgNVHQ4EFgQUGkSKyVjXI4mH181VVgIgZZvN
        rLcwHwYDVR0jBBgwFoAUQwcNzfe2jqXkesLe4oq2Nr+Y2xwwCgYIKoZIzj0EAwID
        SQAwRgIhANCJmo+Jxeox+efEzl7oZSADhqLFKxxHqEuF9uJG6iI1AiEAhBOUtyac
        r85FFsKt8bvbjokWUpzYS+6ZYJLpRwc6/B8=
        -----END CERTIFICATE-----
        """

    /// Its key.
    public static let billingKeyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1ehamx93qyILMisa
        Jp2IdPJPPo5WPsfCCK23qK5Ox/GhRANCAAQqGGEQ+f6y5XuZCW/p8KRgx+UwdpPG
        EazpJNn+3yJDbUdyljA46LXNlLVE1sR9X+mZT2B4uPFiNOAYU/gWfwmM
        -----END PRIVATE KEY-----
        """

    /// `email_calendar`'s certificate from the CA, the same shape.
    public static let emailCalendarCertificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIB1DCCAXmgAwIBAgIUIOs4wkMKov7p/OqvDareZEevkEEwCgYIKoZIzj0EAwIw
        HDEaMBgGA1UEAwwRTmV4YSBUZXN0IE1lc2ggQ0EwIBcNMjYxMjA2MDQ0NzMzWhgP
        MjEyNjExMTIwNDQ3MzNaMBkxFzAVBgNVBAMMDmVtYWlsX2NhbGVuZGFyMFkwEwYH
        KoZIzj0CAQYIKoZIzj0DAQcDQgAE3ihSCXoSWr7YLXl6A0InIj/NAZVniMy6cNnQ
        lx2B+XEyl9ajZ5gmiOJwKSoogR9gBQ37OC4zDIk9o2Kq51Sob6OBmTCBljAqBgNV
        HREEIzAhgglsb2NhbGhvc3SCDmVtYWlsX2NhbGVuZGFyhwR/AAABMB0GA1UdJQQW
        MBQGCCsGAQUFBwMBBggrBgEFBQcDAjAJBgNVHRMEAjAAMB0GA1UdDgQWBBQB4Uw7
        LO6jOer37eDP7O8JdTuJajAfBgNVHSMEGDAWgBRDBw3N97aOpeR6wt7iirY2v5jb
        HDAKBggqhkjOPQQDAgNJADBGAiEAyPgYNN/Mr6lmWSYHJsC0PPoiMXW0CL6UgJ6z
        45Bw4EMCIQD7Ih1JRzKqLqaMNvQY7HEHPQtgigSuUjKztxhLG3IBZA==
        -----END CERTIFICATE-----
        """

    /// Its key.
    public static let emailCalendarKeyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8rStdeVsQNLE1yf7
        G7RBnRTt3Wv4PIcvEfSdrLa9PQehRANCAATeKFIJehJavtgteXoDQiciP80BlWeI
        zLpw2dCXHYH5cTKX1qNnmCaI4nApKiiBH2AFDfs4LjMMiT2jYqrnVKhv
        -----END PRIVATE KEY-----
        """

    /// A self-signed certificate that claims to be `email_calendar` (no CA issued it).
    public static let rogueCertificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIBpDCCAUugAwIBAgIUYMYKX8lQO4epOMdI0wKbFDbsnsQwCgYIKoZIzj0EAwIw
        GTEXMBUGA1UEAwwOZW1haWxfY2FsZW5kYXIwIBcNMjYxMjA2MDQ0NzMzWhgPMjEy
        NjExMTIwNDQ3MzNaMBkxFzAVBgNVBAMMDmVtYWlsX2NhbGVuZGFyMFkwEwYHKoZI
        zj0CAQYIKoZIzj0DAQcDQgAEdyPF11ZHWXZzm7QOwzbYgSUqxsyKuM4WPC4AdeCw
        6gqnFmeGNDzFVEzJadVO35jTpWIj7r9ZZxEaAqkyuM1MU6NvMG0wHQYDVR0OBBYE
        FAnGq2zAnpz2h8WJ6thz4XR60g86MB8GA1UdIwQYMBaAFAnGq2zAnpz2h8WJ6thz
        4XR60g86MA8GA1UdEwEB/wQFMAMBAf8wGgYDVR0RBBMwEYIJbG9jYWxob3N0hwR/
        AAABMAoGCCqGSM49BAMCA0cAMEQCIHuR3RtCw2TPRCTgDKrN3w/7TYzD7U65NiKB
        zHx7v6yOAiA6N8xOQ/NbK8ThssUY9/o5Fl7PtnZya5ujkF/FPHf6OQ==
        -----END CERTIFICATE-----
        """

    /// Its key.
    public static let rogueKeyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZ8JdkIvsFzoRj1QA
        Q0GHr6XZlDcPzD13EN+3/nmXw5mhRANCAAR3I8XXVkdZdnObtA7DNtiBJSrGzIq4
        zhY8LgB14LDqCqcWZ4Y0PMVUTMlp1U7fmNOlYiPuv1lnERoCqTK4zUxT
        -----END PRIVATE KEY-----
        """
}
