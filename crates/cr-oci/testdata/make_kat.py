"""Signs fixed requests with the official OCI Python SDK's signer (oci.signer.Signer) and
prints the Authorization headers as JSON: cr-oci's known-answer test compares its own signer
against them. Run by make_kat.sh."""
import json

import oci
import requests

TENANCY = "ocid1.tenancy.oc1..aaaaaaaakattenancy"
USER = "ocid1.user.oc1..aaaaaaaakatuser"
FINGERPRINT = "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34"
DATE = "Thu, 05 Jun 2025 21:31:40 GMT"

signer = oci.signer.Signer(TENANCY, USER, FINGERPRINT, "key_pkcs8.pem")
cases = [
    ("GET", "https://iaas.us-ashburn-1.oraclecloud.com/20160918/computeCapacityReservations"
            "?compartmentId=ocid1.compartment.oc1..aaaa&limit=100", None),
    ("DELETE", "http://127.0.0.1:8443/20160918/computeCapacityReservations/ocid1.capacityreservation.oc1.iad.x", None),
    ("POST", "https://127.0.0.1:8443/oci/us-ashburn-1/20160918/computeCapacityReservations",
     '{"availabilityDomain":"Emul:IAD-AD-1","compartmentId":"ocid1.tenancy.oc1..a"}'),
]
out = {"tenancy": TENANCY, "user": USER, "fingerprint": FINGERPRINT, "date": DATE,
       "sdk": "oci " + oci.__version__, "cases": []}
for method, url, body in cases:
    headers = {"date": DATE}
    if body is not None:
        headers["content-type"] = "application/json"
    prepared = requests.Request(method, url, headers=headers, data=body).prepare()
    signer(prepared)
    out["cases"].append({
        "method": method, "url": url, "body": body,
        "authorization": prepared.headers["authorization"],
        "x-content-sha256": prepared.headers.get("x-content-sha256"),
        "content-length": prepared.headers.get("content-length"),
    })
print(json.dumps(out, indent=2))
