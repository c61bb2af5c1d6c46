/**
 * A CA certificate for the acmeServerCa tests: a self-signed P-256 root ("Example ACME test
 * root", CA:TRUE, valid to 2126) made with `openssl req -x509`; its key was thrown away, so it
 * can sign nothing.
 */
export const TEST_ACME_CA = `-----BEGIN CERTIFICATE-----
MIIBmjCCAT+gAwIBAgIUfpUp6ZBe0gq17o5nJ30qq9E3pF8wCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWRXhhbXBsZSBBQ01FIHRlc3Qgcm9vdDAgFw0yNjEyMDcwNDM5
MzBaGA8yMTI2MTExMzA0MzkzMFowITEfMB0GA1UEAwwWRXhhbXBsZSBBQ01FIHRl
c3Qgcm9vdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABEsDHQxEJDx8D3aeRvzO
XPRmrviPjWgNoNJqRGB13E23k4DHo48HStU1Nf3n7KgldpXiJdwjIjdgjmBHk/WA
/xajUzBRMB0GA1UdDgQWBBTQvSDrFPdQEUAhi/l43/4yNGB6KzAfBgNVHSMEGDAW
gBTQvSDrFPdQEUAhi/l43/4yNGB6KzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49
BAMCA0kAMEYCIQDoQ4aCyZbyk5XJU/nYAW7cRIGVkRkmGztHUdKIXylrMwIhAKR8
TiuODEdDheu3/0E+wnChhwrbYGjISKdbIg/1Na9u
-----END CERTIFICATE-----
`;
