#!/usr/bin/env python3
"""A token endpoint for Distribution's `auth.token` (the flow Docker Hub uses), for tests.

  registry-token-server.py PORT KEY.pem CERT.pem USER:PASSWORD ISSUER SERVICE

GET /token?service=…&scope=repository:NAME:pull,push with HTTP Basic USER:PASSWORD → {"token": JWT}
(RS256, signed with openssl; the certificate rides in the x5c header). Wrong or missing
credentials → 401.
"""
import base64, http.server, json, subprocess, sys, time, urllib.parse, uuid

port, key, cert, creds, issuer, service = sys.argv[1:7]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], stdout=subprocess.PIPE, check=True).stdout


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(access):
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    now = int(time.time())
    claims = {"iss": issuer, "sub": creds.split(":")[0], "aud": service, "exp": now + 300, "nbf": now - 10,
              "iat": now, "jti": str(uuid.uuid4()), "access": access}
    signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                         stdout=subprocess.PIPE, check=True).stdout
    return signing + "." + b64(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        auth = self.headers.get("Authorization", "")
        if u.path != "/token" or auth != "Basic " + base64.b64encode(creds.encode()).decode():
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
            return
        access = []
        for s in q.get("scope", []):
            for one in s.split(" "):
                parts = one.split(":")
                if len(parts) >= 3:
                    access.append({"type": parts[0], "name": ":".join(parts[1:-1]), "actions": parts[-1].split(",")})
        body = json.dumps({"token": token(access), "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
