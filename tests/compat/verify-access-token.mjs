// Verifies a Portcullis access token with `jose`, an independent JOSE library, from the published
// JWKS alone. Env: PORTCULLIS_URL (issuer and audience), ACCESS_TOKEN. Prints the claims as JSON;
// exits 1 if the token does not verify.
import { createRemoteJWKSet, jwtVerify } from "jose";

const issuer = process.env.PORTCULLIS_URL;
const token = process.env.ACCESS_TOKEN;
if (!issuer || !token) {
  console.error("PORTCULLIS_URL and ACCESS_TOKEN are required");
  process.exit(2);
}
const jwks = createRemoteJWKSet(new URL(`${issuer}/api/auth/jwks`));
try {
  const { payload } = await jwtVerify(token, jwks, {
    issuer,
    audience: issuer,
    typ: "at+jwt",
    algorithms: ["EdDSA", "ES256"],
  });
  console.log(JSON.stringify(payload));
} catch (error) {
  console.error(`refused: ${error.code ?? ""} ${error.message}`);
  process.exit(1);
}
