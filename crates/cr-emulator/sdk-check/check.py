#!/usr/bin/env python3
"""Drive cr-emulator with the clouds' own official SDKs.

cr's Rust clients and the emulator were both written by us, so a misreading of a wire protocol
could be made twice and pass. This script talks to the emulator through the SDKs the clouds
publish (boto3, google-auth, azure-identity + azure-mgmt-*, oci), which sign, authenticate,
poll and parse exactly as they do against the real clouds.

    python3 check.py --cr target/debug/cr      (what `cargo xtask sdk-check` runs)
    python3 check.py --cr target/debug/cr --only azure    (one cloud's checks)

It starts `cr emulator` on free loopback ports, runs every check, prints one line per check,
and exits 1 if any failed. Nothing here reaches a real cloud: every client is pointed at the
emulator's loopback address, and the emulator's generated CA is the only one trusted.
"""

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import traceback
import urllib.request

TEST_ID = "sdk-check"
# One stocked-out zone per cloud; every other zone keeps the emulator's default stock.
SCENARIO = {
    "clouds": {
        "aws": {"regions": {"us-east-1": {"zones": {"us-east-1a": {"i4i.large": 0}}}}},
        "gce": {"regions": {"us-east1": {"zones": {"us-east1-b": {"n2-highmem-16": 0}}}}},
        # Long-running operations answer with polling headers by default (PUT 201 Creating,
        # PATCH 202 Location-only); group deletes are asynchronous, and westus2 has a small vCPU quota
        # for the Dsv5 family.
        "azure": {
            "regions": {
                "eastus": {"zones": {"1": {"Standard_L8s_v3": 0}}},
                "westus2": {"quotas": {"standardDSv5Family": 4}},
            },
            "options": {
                "group_delete": "async",
            },
            # Answered as the role's notActions by Microsoft.Authorization/permissions (and
            # refused, though no check lists locations).
            "denied_permissions": ["Microsoft.Resources/subscriptions/locations/read"],
        },
        "oci": {
            "regions": {"us-ashburn-1": {"zones": {"AD-1": {"VM.DenseIO.E5.Flex": 0}},
                                         # Read by oci_preflight through the Limits service.
                                         "quotas": {"standard3-core-count": 12}}},
            # Only oci_limits_and_summaries uses VM.Standard.E4.Flex.
            "options": {"limits": {"standard-e4-core-count": 16}, "summary_fields": "minimal"},
        },
    }
}
RESULTS = []


def check(name):
    def wrap(fn):
        def run(env):
            try:
                detail = fn(env)
                RESULTS.append((name, None))
                print(f"ok    {name}" + (f": {detail}" if detail else ""), flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is reported, none hidden
                RESULTS.append((name, e))
                print(f"FAIL  {name}: {type(e).__name__}: {e}", flush=True)
                traceback.print_exc(limit=3, file=sys.stdout)

        run.name = name
        return run

    return wrap


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def later(hours):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)


def set_clock_skew(env, seconds):
    """The emulator's clouds' clock `seconds` ahead of this machine's (negative: behind)."""
    req = urllib.request.Request(
        env["CR_ENDPOINT_HTTP"] + "/_emulator/clock/skew",
        data=json.dumps({"seconds": seconds}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as r:
        expect(json.load(r)["skew_s"] == seconds, "the skew was not set")


def date_skew(headers):
    """How far ahead of this machine's clock an answer's Date header is, in seconds."""
    from email.utils import parsedate_to_datetime

    server = parsedate_to_datetime(headers["date"])
    return (server - datetime.datetime.now(datetime.timezone.utc)).total_seconds()


# --------------------------------------------------------------------------------------------
# AWS: boto3 (botocore's SigV4 signer, the EC2 Query protocol, XML responses)


@check("aws: create, tag filter, client token, cancel")
def aws_lifecycle(env):
    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1")
    req = dict(
        InstanceType="i4i.large",
        InstancePlatform="Linux/UNIX",
        AvailabilityZone="us-east-1b",
        InstanceCount=3,
        EndDateType="limited",
        EndDate=later(2),
        InstanceMatchCriteria="targeted",
        ClientToken="sdk-check-token-1",
        TagSpecifications=[
            {
                "ResourceType": "capacity-reservation",
                "Tags": [{"Key": "TestId", "Value": TEST_ID}, {"Key": "CreatedBy", "Value": "sdk-check"}],
            }
        ],
    )
    created = ec2.create_capacity_reservation(**req)["CapacityReservation"]
    rid = created["CapacityReservationId"]
    expect(created["State"] in ("active", "pending"), f"state {created['State']}")
    expect(created["TotalInstanceCount"] == 3, f"count {created['TotalInstanceCount']}")
    again = ec2.create_capacity_reservation(**req)["CapacityReservation"]
    expect(again["CapacityReservationId"] == rid, "the same ClientToken made a second reservation")
    found = ec2.describe_capacity_reservations(
        Filters=[{"Name": "tag:TestId", "Values": [TEST_ID]}, {"Name": "state", "Values": ["active", "pending"]}]
    )["CapacityReservations"]
    expect([r["CapacityReservationId"] for r in found] == [rid], f"tag filter found {found}")
    tags = {t["Key"]: t["Value"] for t in found[0].get("Tags", [])}
    expect(tags.get("TestId") == TEST_ID, f"tags {tags}")
    expect(ec2.cancel_capacity_reservation(CapacityReservationId=rid)["Return"] is True, "cancel returned false")
    state = ec2.describe_capacity_reservations(CapacityReservationIds=[rid])["CapacityReservations"][0]["State"]
    expect(state == "cancelled", f"state after cancel {state}")
    return rid


@check("aws: paginator over DescribeCapacityReservations")
def aws_pagination(env):
    import boto3

    ec2 = boto3.client("ec2", region_name="eu-west-1")
    ids = []
    for i in range(7):
        r = ec2.create_capacity_reservation(
            InstanceType="m5.large",
            InstancePlatform="Linux/UNIX",
            AvailabilityZone="eu-west-1a",
            InstanceCount=1,
            TagSpecifications=[
                {"ResourceType": "capacity-reservation", "Tags": [{"Key": "TestId", "Value": TEST_ID + "-pages"}]}
            ],
        )
        ids.append(r["CapacityReservation"]["CapacityReservationId"])
    pages = ec2.get_paginator("describe_capacity_reservations").paginate(
        Filters=[{"Name": "tag:TestId", "Values": [TEST_ID + "-pages"]}], PaginationConfig={"PageSize": 5}
    )
    seen, n_pages = [], 0
    for page in pages:
        n_pages += 1
        seen += [r["CapacityReservationId"] for r in page["CapacityReservations"]]
    expect(sorted(seen) == sorted(ids), f"paginated {len(seen)} of {len(ids)}")
    expect(n_pages >= 2, f"{n_pages} page(s) for 7 items of page size 5")
    for rid in ids:
        ec2.cancel_capacity_reservation(CapacityReservationId=rid)
    return f"{len(seen)} reservations over {n_pages} pages"


@check("aws: wrong secret and stock-out keep EC2's error codes")
def aws_errors(env):
    import boto3
    import botocore.exceptions

    bad = boto3.client(
        "ec2",
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key="x" * 40,
    )
    try:
        bad.describe_capacity_reservations()
        raise AssertionError("a request signed with a wrong secret was accepted")
    except botocore.exceptions.ClientError as e:
        code = e.response["Error"]["Code"]
        expect(code == "AuthFailure", f"code {code}")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    try:
        ec2.create_capacity_reservation(
            InstanceType="i4i.large", InstancePlatform="Linux/UNIX", AvailabilityZone="us-east-1a", InstanceCount=1
        )
        raise AssertionError("a stocked-out zone accepted a reservation")
    except botocore.exceptions.ClientError as e:
        code = e.response["Error"]["Code"]
        expect(code == "InsufficientInstanceCapacity", f"code {code}")
    return "AuthFailure, InsufficientInstanceCapacity"


@check("aws: clock skew: 10 minutes accepted, 20 minutes RequestExpired (400)")
def aws_clock_skew(env):
    import boto3
    import botocore.exceptions

    try:
        set_clock_skew(env, -600)
        boto3.client("ec2", region_name="us-east-1").describe_availability_zones()
        set_clock_skew(env, 1200)
        try:
            boto3.client("ec2", region_name="us-east-1").describe_availability_zones()
            raise AssertionError("a request 20 minutes off the cloud's clock was accepted")
        except botocore.exceptions.ClientError as e:
            err = e.response["Error"]
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
            expect((status, err["Code"]) == (400, "RequestExpired"), f"{status} {err}")
            skew = date_skew(e.response["ResponseMetadata"]["HTTPHeaders"])
            expect(1150 < skew < 1250, f"Date header {skew:.0f} s ahead")
            return f"{status} {err['Code']}: {err.get('Message')}"
    finally:
        set_clock_skew(env, 0)


# --------------------------------------------------------------------------------------------
# Compute Engine: google-auth's service-account JWT exchange, then the REST API


def gce_session(env):
    import google.auth.transport.requests as gar
    import requests
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_file(
        env["GOOGLE_APPLICATION_CREDENTIALS"], scopes=["https://www.googleapis.com/auth/compute"]
    )
    session = requests.Session()
    session.verify = env["CR_CA_BUNDLE"]
    creds.refresh(gar.Request(session=session))
    session.headers["Authorization"] = "Bearer " + creds.token
    base = f"{env['CR_ENDPOINT']}/compute/v1/projects/{env['GOOGLE_CLOUD_PROJECT']}"
    return session, base


def gce_wait(session, base, op):
    for _ in range(100):
        if op["status"] == "DONE":
            return op
        url = f"{base}/zones/{op['zone'].rsplit('/', 1)[-1]}/operations/{op['name']}/wait"
        op = session.post(url).json()
    raise AssertionError(f"operation {op['name']} never finished")


@check("gce: token exchange, insert, operation wait, aggregated list, delete")
def gce_lifecycle(env):
    s, base = gce_session(env)
    body = {
        "name": "cr-sdk-check-n2",
        "description": f"TestId={TEST_ID}",
        "specificReservationRequired": True,
        "specificReservation": {"count": "2", "instanceProperties": {"machineType": "n2-highmem-16"}},
        "deleteAtTime": later(2).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    r = s.post(f"{base}/zones/us-east1-c/reservations", params={"requestId": "8f9c4c2e-6c1e-4c39-9b0e-3d7f5c2a1b10"}, json=body)
    expect(r.status_code == 200, f"insert HTTP {r.status_code}: {r.text[:300]}")
    op = gce_wait(s, base, r.json())
    expect("error" not in op, f"operation failed: {op.get('error')}")
    res = s.get(f"{base}/zones/us-east1-c/reservations/cr-sdk-check-n2").json()
    expect(res["status"] == "READY", f"status {res['status']}")
    expect(int(res["specificReservation"]["count"]) == 2, f"count {res['specificReservation']}")
    agg = s.get(f"{base}/aggregated/reservations", params={"filter": 'name eq "cr-sdk-check-.*"'}).json()
    names = [x["name"] for scope in agg.get("items", {}).values() for x in scope.get("reservations", [])]
    expect(names == ["cr-sdk-check-n2"], f"aggregated list {names}")
    op = gce_wait(s, base, s.delete(f"{base}/zones/us-east1-c/reservations/cr-sdk-check-n2").json())
    expect("error" not in op, f"delete failed: {op.get('error')}")
    gone = s.get(f"{base}/zones/us-east1-c/reservations/cr-sdk-check-n2")
    expect(gone.status_code == 404, f"GET after delete: HTTP {gone.status_code}")
    return "READY, then 404 after delete"


@check("gce: no token, a key the emulator did not issue, and a stock-out")
def gce_errors(env):
    import google.auth.exceptions
    import google.auth.transport.requests as gar
    import requests
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    s, base = gce_session(env)
    plain = requests.get(f"{base}/zones/us-east1-b/reservations", verify=env["CR_CA_BUNDLE"])
    expect(plain.status_code == 401, f"no token: HTTP {plain.status_code}")
    info = json.load(open(env["GOOGLE_APPLICATION_CREDENTIALS"]))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    forged = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/compute"]
    )
    session = requests.Session()
    session.verify = env["CR_CA_BUNDLE"]
    try:
        forged.refresh(gar.Request(session=session))
        raise AssertionError("a JWT signed with a foreign key got a token")
    except google.auth.exceptions.RefreshError:
        pass
    body = {
        "name": "cr-sdk-check-stockout",
        "specificReservation": {"count": "1", "instanceProperties": {"machineType": "n2-highmem-16"}},
    }
    r = s.post(f"{base}/zones/us-east1-b/reservations", json=body)
    op = gce_wait(s, base, r.json()) if r.status_code == 200 else r.json()
    errors = (op.get("error") or {}).get("errors", [])
    codes = [e.get("code") or e.get("reason") for e in errors]
    expect(any(c in ("ZONE_RESOURCE_POOL_EXHAUSTED", "zoneResourcePoolExhausted") for c in codes), f"codes {codes}")
    return f"401, RefreshError, {codes[0]}"


@check("gce: clock skew: a JWT assertion 10 minutes off is invalid_grant")
def gce_clock_skew(env):
    import google.auth.exceptions
    import google.auth.transport.requests as gar
    import requests
    from google.oauth2 import service_account

    try:
        for skew in (600, -600):
            set_clock_skew(env, skew)
            creds = service_account.Credentials.from_service_account_file(
                env["GOOGLE_APPLICATION_CREDENTIALS"], scopes=["https://www.googleapis.com/auth/compute"]
            )
            session = requests.Session()
            session.verify = env["CR_CA_BUNDLE"]
            try:
                creds.refresh(gar.Request(session=session))
                raise AssertionError(f"an assertion {skew} s off the cloud's clock got a token")
            except google.auth.exceptions.RefreshError as e:
                text = str(e)
                expect("invalid_grant" in text and "iat" in text, text)
        return text[:160]
    finally:
        set_clock_skew(env, 0)


# --------------------------------------------------------------------------------------------
# Azure: azure-identity (client-secret flow against the emulator's token endpoint) and
# azure-mgmt-compute / azure-mgmt-resource (ARM, long-running operations polled by the SDK)


def azure_clients(env, secret=None):
    from azure.identity import ClientSecretCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

    cred = ClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        secret or env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"],
        connection_verify=env["CR_CA_BUNDLE"],
        disable_instance_discovery=True,
    )
    kw = dict(
        base_url=env["CR_ENDPOINT"],
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=env["CR_CA_BUNDLE"],
        polling_interval=0.05,
    )
    sub = env["AZURE_SUBSCRIPTION_ID"]
    return ComputeManagementClient(cred, sub, **kw), ResourceManagementClient(cred, sub, **kw)


@check("azure: resource group, reservation group, reservation (LRO), list, delete")
def azure_lifecycle(env):
    compute, resources = azure_clients(env)
    rg = resources.resource_groups.create_or_update("cr-sdk-check", {"location": "westeurope"})
    expect(rg.name == "cr-sdk-check", f"resource group {rg.name}")
    group = compute.capacity_reservation_groups.create_or_update(
        "cr-sdk-check", "crg-sdk-check", {"location": "westeurope", "zones": ["2"], "tags": {"TestId": TEST_ID}}
    )
    expect(group.zones == ["2"], f"group zones {group.zones}")
    res = compute.capacity_reservations.begin_create_or_update(
        "cr-sdk-check",
        "crg-sdk-check",
        "cr-l8s",
        {"location": "westeurope", "sku": {"name": "Standard_L8s_v3", "capacity": 2}, "zones": ["2"], "tags": {"TestId": TEST_ID}},
    ).result()
    expect(res.provisioning_state == "Succeeded", f"provisioning state {res.provisioning_state}")
    expect(res.sku.capacity == 2, f"capacity {res.sku.capacity}")
    listed = [r.name for r in compute.capacity_reservations.list_by_capacity_reservation_group("cr-sdk-check", "crg-sdk-check")]
    expect(listed == ["cr-l8s"], f"listed {listed}")
    compute.capacity_reservations.begin_delete("cr-sdk-check", "crg-sdk-check", "cr-l8s").result()
    compute.capacity_reservation_groups.begin_delete("cr-sdk-check", "crg-sdk-check").result()
    resources.resource_groups.begin_delete("cr-sdk-check").result()
    return "Succeeded, then deleted"


@check("azure: a zonal stock-out fails the operation with ZonalAllocationFailed")
def azure_stockout(env):
    import azure.core.exceptions

    compute, resources = azure_clients(env)
    resources.resource_groups.create_or_update("cr-sdk-stockout", {"location": "eastus"})
    compute.capacity_reservation_groups.create_or_update(
        "cr-sdk-stockout", "crg-stockout", {"location": "eastus", "zones": ["1"], "tags": {"TestId": TEST_ID}}
    )
    try:
        compute.capacity_reservations.begin_create_or_update(
            "cr-sdk-stockout",
            "crg-stockout",
            "cr-l8s",
            {"location": "eastus", "sku": {"name": "Standard_L8s_v3", "capacity": 1}, "zones": ["1"]},
        ).result()
        raise AssertionError("a stocked-out zone accepted a reservation")
    except azure.core.exceptions.HttpResponseError as e:
        code = e.error.code if e.error else None
        expect(code == "ZonalAllocationFailed", f"code {code}: {e.message}")
    resources.resource_groups.begin_delete("cr-sdk-stockout").result()
    return code


@check("azure: a wrong client secret is refused by the token endpoint")
def azure_errors(env):
    import azure.core.exceptions

    compute, _ = azure_clients(env, secret="not-the-secret")
    try:
        list(compute.capacity_reservation_groups.list_by_subscription())
        raise AssertionError("a wrong client secret was accepted")
    except azure.core.exceptions.ClientAuthenticationError as e:
        return type(e).__name__


@check("azure: clock skew: a client-secret token works 10 minutes either way")
def azure_clock_skew(env):
    try:
        for skew in (600, -600):
            set_clock_skew(env, skew)
            compute, _ = azure_clients(env)
            sizes = list(compute.resource_skus.list(filter="location eq 'eastus'"))
            expect(sizes, f"no SKUs listed with the clock {skew} s off")
        return "Entra stamps and ARM checks tokens on the same clock"
    finally:
        set_clock_skew(env, 0)


@check("azure: a reservation PATCH answers 202 with only Location, which the SDK polls")
def azure_patch(env):
    compute, resources = azure_clients(env)
    rg, grp = "cr-sdk-patch", "crg-patch"
    resources.resource_groups.create_or_update(rg, {"location": "westeurope"})
    compute.capacity_reservation_groups.create_or_update(rg, grp, {"location": "westeurope", "zones": ["1"]})
    compute.capacity_reservations.begin_create_or_update(
        rg, grp, "cr-d2", {"location": "westeurope", "sku": {"name": "Standard_D2s_v5", "capacity": 1}, "zones": ["1"]}
    ).result()
    seen = {}

    def raw(response):
        # Called for every answer of the operation: keep the first (the PATCH's own).
        seen.setdefault("status", response.http_response.status_code)
        seen.setdefault("headers", dict(response.http_response.headers))

    poller = compute.capacity_reservations.begin_update(
        rg, grp, "cr-d2", {"sku": {"capacity": 2}}, raw_response_hook=raw
    )
    updated = poller.result()
    expect(seen.get("status") == 202, f"PATCH answered {seen.get('status')}")
    headers = {k.lower() for k in seen.get("headers", {})}
    expect("location" in headers and "azure-asyncoperation" not in headers, f"headers {sorted(headers)}")
    expect(updated.sku.capacity == 2, f"capacity {updated.sku.capacity}")
    compute.capacity_reservations.begin_delete(rg, grp, "cr-d2").result()
    compute.capacity_reservation_groups.begin_delete(rg, grp).result()
    resources.resource_groups.begin_delete(rg).result()
    return "202 Location, polled to capacity 2; group delete polled too"


@check("azure: one reservation per VM size per zone; tag limits; quota names the VM family")
def azure_strictness(env):
    import azure.core.exceptions

    compute, resources = azure_clients(env)
    rg, grp = "cr-sdk-strict", "crg-strict"
    resources.resource_groups.create_or_update(rg, {"location": "westus2"})
    compute.capacity_reservation_groups.create_or_update(rg, grp, {"location": "westus2", "zones": ["1"]})
    body = {"location": "westus2", "sku": {"name": "Standard_D2s_v5", "capacity": 1}, "zones": ["1"]}
    compute.capacity_reservations.begin_create_or_update(rg, grp, "a", body).result()
    codes = []
    for name, b in [
        ("b", body),
        ("c", dict(body, tags={f"k{i}": "v" for i in range(51)})),
        # 2 vCPUs held + 8 asked > the family's 4, though it is only the second instance.
        ("d", dict(body, sku={"name": "Standard_D8s_v5", "capacity": 1})),
    ]:
        try:
            compute.capacity_reservations.begin_create_or_update(rg, grp, name, b).result()
            raise AssertionError(f"reservation {name} was accepted")
        except azure.core.exceptions.HttpResponseError as e:
            codes.append((e.error.code if e.error else None, e.message or ""))
    expect(codes[0][0] == "CapacityReservationAlreadyExistsForSku", f"twin: {codes[0]}")
    expect(codes[1][0] == "InvalidTagCount", f"tags: {codes[1]}")
    expect(codes[2][0] == "OperationNotAllowed" and "standardDSv5Family" in codes[2][1], f"quota: {codes[2]}")
    compute.capacity_reservations.begin_delete(rg, grp, "a").result()
    compute.capacity_reservation_groups.begin_delete(rg, grp).result()
    resources.resource_groups.begin_delete(rg).result()
    return ", ".join(c for c, _ in codes)


# --------------------------------------------------------------------------------------------
# OCI: the oci SDK's HTTP-signature signer (draft-cavage, body digest on POST)


def oci_config(env):
    import oci

    return oci.config.from_file(env["OCI_CONFIG_FILE"])


def oci_client(env, kind, cfg, region="us-ashburn-1"):
    import oci

    # No SDK retries: a stock-out must come back as the error, not after minutes of backoff.
    client = kind(cfg, service_endpoint=f"{env['CR_OCI_ENDPOINT']}/oci/{region}", retry_strategy=oci.retry.NoneRetryStrategy())
    client.base_client.session.verify = env["CR_CA_BUNDLE"]
    return client


def oci_ads(env, cfg):
    import oci

    return oci_client(env, oci.identity.IdentityClient, cfg).list_availability_domains(cfg["tenancy"]).data


def oci_dense_io(cfg, ad, count, **fields):
    """A create request for `count` VM.DenseIO.E5.Flex (8 OCPUs, 96 GB) in `ad`."""
    import oci

    return oci.core.models.CreateComputeCapacityReservationDetails(
        compartment_id=cfg["tenancy"],
        availability_domain=ad,
        instance_reservation_configs=[
            oci.core.models.InstanceReservationConfigDetails(
                instance_shape="VM.DenseIO.E5.Flex",
                reserved_count=count,
                instance_shape_config=oci.core.models.InstanceReservationShapeConfigDetails(ocpus=8, memory_in_gbs=96),
            )
        ],
        **fields,
    )


@check("oci: availability domains, create, get, list, delete")
def oci_lifecycle(env):
    import oci

    cfg = oci_config(env)
    ads = oci_ads(env, cfg)
    expect(len(ads) == 3, f"ADs {[a.name for a in ads]}")
    compute = oci_client(env, oci.core.ComputeClient, cfg)
    details = oci_dense_io(cfg, ads[1].name, 2, display_name="cr-sdk-check", freeform_tags={"TestId": TEST_ID})
    created = compute.create_compute_capacity_reservation(details)
    rid = created.data.id
    expect("opc-work-request-id" in created.headers, "no opc-work-request-id header")
    got = compute.get_compute_capacity_reservation(rid).data
    expect(got.reserved_instance_count == 2, f"reserved {got.reserved_instance_count}")
    expect(got.freeform_tags.get("TestId") == TEST_ID, f"tags {got.freeform_tags}")
    listed = [r.id for r in compute.list_compute_capacity_reservations(cfg["tenancy"], display_name="cr-sdk-check").data]
    expect(listed == [rid], f"listed {listed}")
    deleted = compute.delete_compute_capacity_reservation(rid)
    expect(deleted.status in (200, 202, 204), f"delete HTTP {deleted.status}")
    state = compute.get_compute_capacity_reservation(rid).data.lifecycle_state
    expect(state in ("DELETING", "DELETED"), f"state after delete {state}")
    return f"{ads[1].name}, then {state}"


@check("oci: a stock-out keeps OCI's error code and message")
def oci_stockout(env):
    import oci

    cfg = oci_config(env)
    compute = oci_client(env, oci.core.ComputeClient, cfg)
    details = oci_dense_io(cfg, oci_ads(env, cfg)[0].name, 1)
    try:
        compute.create_compute_capacity_reservation(details)
        raise AssertionError("a stocked-out AD accepted a reservation")
    except oci.exceptions.ServiceError as e:
        expect(e.code == "InternalError" and "capacity" in e.message.lower(), f"{e.status} {e.code} {e.message}")
        return f"{e.status} {e.code} {e.message}"


@check("oci: a key whose fingerprint the emulator does not know is refused")
def oci_errors(env):
    import oci

    cfg = dict(oci_config(env))
    cfg["fingerprint"] = "00:" + cfg["fingerprint"][3:]
    compute = oci_client(env, oci.core.ComputeClient, cfg)
    try:
        compute.list_compute_capacity_reservations(cfg["tenancy"])
        raise AssertionError("a request signed with an unknown key was accepted")
    except oci.exceptions.ServiceError as e:
        expect(e.status == 401 and e.code == "NotAuthenticated", f"{e.status} {e.code}")
        return f"{e.status} {e.code}"


@check("oci: clock skew: a signature 10 minutes off is 401 NotAuthenticated")
def oci_clock_skew(env):
    import oci

    cfg = oci_config(env)
    try:
        for skew in (600, -600):
            set_clock_skew(env, skew)
            compute = oci_client(env, oci.core.ComputeClient, cfg)
            try:
                compute.list_compute_capacity_reservations(cfg["tenancy"])
                raise AssertionError(f"a request {skew} s off the cloud's clock was accepted")
            except oci.exceptions.ServiceError as e:
                expect(e.status == 401 and e.code == "NotAuthenticated", f"{e.status} {e.code}")
                seen = date_skew(e.headers)
                expect(abs(seen - skew) < 50, f"Date header {seen:.0f} s off, want {skew}")
                refused = f"{e.status} {e.code}"
        return refused
    finally:
        set_clock_skew(env, 0)


def oci_wait_deleted(compute, rid):
    import time

    for _ in range(100):
        if compute.get_compute_capacity_reservation(rid).data.lifecycle_state == "DELETED":
            return
        time.sleep(0.05)
    raise AssertionError(f"{rid} never became DELETED")


@check("oci: retry tokens: same token same reservation, > 64 characters refused, spent on a deleted one → 409")
def oci_retry_tokens(env):
    import oci

    cfg = oci_config(env)
    compute = oci_client(env, oci.core.ComputeClient, cfg)
    ad = oci_ads(env, cfg)[2].name
    details = oci_dense_io(cfg, ad, 1, freeform_tags={"TestId": TEST_ID})
    token = "sdk-check-" + "0" * 54  # 64 characters
    first = compute.create_compute_capacity_reservation(details, opc_retry_token=token).data.id
    again = compute.create_compute_capacity_reservation(details, opc_retry_token=token).data.id
    expect(first == again, f"the same token made {first} and {again}")
    try:
        compute.create_compute_capacity_reservation(details, opc_retry_token=token + "x")
        raise AssertionError("a 65-character retry token was accepted")
    except oci.exceptions.ServiceError as e:
        expect(e.status == 400 and e.code == "InvalidParameter", f"{e.status} {e.code}")
    compute.delete_compute_capacity_reservation(first)
    oci_wait_deleted(compute, first)
    try:
        compute.create_compute_capacity_reservation(details, opc_retry_token=token)
        raise AssertionError("a token spent on a deleted reservation was accepted")
    except oci.exceptions.ServiceError as e:
        expect(e.status == 409 and e.code == "InvalidatedRetryToken", f"{e.status} {e.code}")
        return f"{e.status} {e.code}"


@check("oci: Flex limits count OCPUs (LimitExceeded); the SDK parses summaries with only the required fields")
def oci_limits_and_summaries(env):
    import oci

    cfg = oci_config(env)
    compute = oci_client(env, oci.core.ComputeClient, cfg)
    ad = oci_ads(env, cfg)[1].name

    def e4(count):
        return oci.core.models.CreateComputeCapacityReservationDetails(
            compartment_id=cfg["tenancy"],
            availability_domain=ad,
            display_name="cr-sdk-limits",
            instance_reservation_configs=[
                oci.core.models.InstanceReservationConfigDetails(
                    instance_shape="VM.Standard.E4.Flex",
                    reserved_count=count,
                    instance_shape_config=oci.core.models.InstanceReservationShapeConfigDetails(ocpus=8, memory_in_gbs=64),
                )
            ],
        )

    held = compute.create_compute_capacity_reservation(e4(2)).data.id  # 16 OCPUs: the limit
    try:
        compute.create_compute_capacity_reservation(e4(1))
        raise AssertionError("a create past the core limit was accepted")
    except oci.exceptions.ServiceError as e:
        expect(e.status == 400 and e.code == "LimitExceeded", f"{e.status} {e.code}")
        expect("standard-e4-core-count" in e.message and ad in e.message, e.message)
        refused = f"{e.code}: {e.message[:60]}..."
    summaries = compute.list_compute_capacity_reservations(cfg["tenancy"], display_name="cr-sdk-limits").data
    expect([r.id for r in summaries] == [held], f"listed {[r.id for r in summaries]}")
    expect(summaries[0].lifecycle_state is None and summaries[0].time_created is not None, str(summaries[0]))
    compute.delete_compute_capacity_reservation(held)
    oci_wait_deleted(compute, held)
    return refused


@check("oci: with long-running operations a create is CREATING until its work request SUCCEEDED")
def oci_work_request(env):
    import time

    import oci

    control = env["CR_ENDPOINT_HTTP"] + "/_emulator/scenario"
    with urllib.request.urlopen(control) as r:
        saved = r.read()
    slow = json.loads(saved)
    slow["clouds"]["oci"]["lro_ms"] = 300

    def put(body):
        req = urllib.request.Request(control, data=body, method="PUT", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).close()

    put(json.dumps(slow).encode())
    try:
        cfg = oci_config(env)
        compute = oci_client(env, oci.core.ComputeClient, cfg)
        works = oci_client(env, oci.work_requests.WorkRequestClient, cfg)
        ad = oci_ads(env, cfg)[1].name
        created = compute.create_compute_capacity_reservation(oci_dense_io(cfg, ad, 1, freeform_tags={"TestId": TEST_ID}))
        expect(created.data.lifecycle_state == "CREATING", f"state {created.data.lifecycle_state}")
        wr = created.headers["opc-work-request-id"]
        seen = set()
        for _ in range(100):
            status = works.get_work_request(wr).data.status
            seen.add(status)
            if status == "SUCCEEDED":
                break
            time.sleep(0.05)
        expect("SUCCEEDED" in seen and len(seen) > 1, f"work request statuses {seen}")
        state = compute.get_compute_capacity_reservation(created.data.id).data.lifecycle_state
        expect(state == "ACTIVE", f"state {state}")
        compute.delete_compute_capacity_reservation(created.data.id)
        oci_wait_deleted(compute, created.data.id)
        return f"work request {sorted(seen)}"
    finally:
        put(saved)


# --------------------------------------------------------------------------------------------
# Rate limits: with a bucket of one call (never refilled) set through /_emulator/scenario, the
# second call comes back as the cloud's own throttle error, as each SDK parses it.


class rate_limited:
    """The scenario with `cloud` limited to one write and one read, restored afterwards."""

    def __init__(self, env, cloud):
        self.control = env["CR_ENDPOINT_HTTP"] + "/_emulator/scenario"
        self.cloud = cloud

    def put(self, body):
        req = urllib.request.Request(self.control, data=body, method="PUT", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).close()

    def __enter__(self):
        with urllib.request.urlopen(self.control) as r:
            self.saved = r.read()
        limited = json.loads(self.saved)
        one = {"burst": 1, "per_second": 0}
        limited["clouds"][self.cloud]["rate_limit"] = {"write": one, "read": one}
        self.put(json.dumps(limited).encode())
        return self

    def __exit__(self, *exc):
        self.put(self.saved)
        return False


@check("aws: past the rate limit boto3 sees 503 RequestLimitExceeded")
def aws_rate_limit(env):
    import boto3
    import botocore.config
    import botocore.exceptions

    ec2 = boto3.client("ec2", region_name="us-east-1", config=botocore.config.Config(retries={"max_attempts": 1}))
    with rate_limited(env, "aws"):
        ec2.describe_capacity_reservations()
        try:
            ec2.describe_capacity_reservations()
            raise AssertionError("a second call passed a bucket of one")
        except botocore.exceptions.ClientError as e:
            code, status = e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
            expect((code, status) == ("RequestLimitExceeded", 503), f"{code} {status}")
    return f"{code} {status}"


@check("gce: past the rate quota the API answers 403 rateLimitExceeded")
def gce_rate_limit(env):
    s, base = gce_session(env)
    with rate_limited(env, "gce"):
        first = s.get(f"{base}/zones/us-east1-b/reservations")
        expect(first.status_code == 200, f"first call {first.status_code} {first.text}")
        second = s.get(f"{base}/zones/us-east1-b/reservations")
        reason = second.json()["error"]["errors"][0]["reason"]
        expect((second.status_code, reason) == (403, "rateLimitExceeded"), f"{second.status_code} {second.text}")
    return f"403 {reason}"


@check("azure: past the rate limit the SDK sees 429 SubscriptionRequestsThrottled with Retry-After")
def azure_rate_limit(env):
    from azure.core.exceptions import HttpResponseError

    compute, _ = azure_clients(env)
    # The token is fetched before the limit: the identity endpoint is not ARM.
    list(compute.capacity_reservation_groups.list_by_subscription(retry_total=0))
    with rate_limited(env, "azure"):
        list(compute.capacity_reservation_groups.list_by_subscription(retry_total=0))
        try:
            list(compute.capacity_reservation_groups.list_by_subscription(retry_total=0))
            raise AssertionError("a second call passed a bucket of one")
        except HttpResponseError as e:
            code = e.error.code if e.error else None
            after = e.response.headers.get("Retry-After")
            expect((e.status_code, code) == (429, "SubscriptionRequestsThrottled"), f"{e.status_code} {code}")
            expect(after is not None and int(after) >= 1, f"Retry-After {after}")
    return f"429 {code}, Retry-After {after}"


@check("oci: past the rate limit the SDK sees 429 TooManyRequests without Retry-After")
def oci_rate_limit(env):
    import oci

    cfg = oci_config(env)
    compute = oci_client(env, oci.core.ComputeClient, cfg)
    with rate_limited(env, "oci"):
        compute.list_compute_capacity_reservations(cfg["tenancy"])
        try:
            compute.list_compute_capacity_reservations(cfg["tenancy"])
            raise AssertionError("a second call passed a bucket of one")
        except oci.exceptions.ServiceError as e:
            expect((e.status, e.code) == (429, "TooManyRequests"), f"{e.status} {e.code}")
            expect("retry-after" not in {k.lower() for k in (e.headers or {})}, f"headers {e.headers}")
    return "429 TooManyRequests"


# --------------------------------------------------------------------------------------------
# Usage: one instance launched into a reservation with each cloud's SDK moves the used count,
# and terminating it frees the slot.


@check("aws: run_instances into a targeted reservation moves AvailableInstanceCount; terminate frees it")
def aws_usage(env):
    import boto3
    import botocore.exceptions

    ec2 = boto3.client("ec2", region_name="us-east-1")
    rid = ec2.create_capacity_reservation(
        InstanceType="m5.large", InstancePlatform="Linux/UNIX", AvailabilityZone="us-east-1a",
        InstanceCount=1, InstanceMatchCriteria="targeted",
    )["CapacityReservation"]["CapacityReservationId"]
    spec = {"CapacityReservationTarget": {"CapacityReservationId": rid}}
    run = ec2.run_instances(ImageId="ami-0123456789abcdef0", InstanceType="m5.large", MinCount=1, MaxCount=1,
                            Placement={"AvailabilityZone": "us-east-1a"}, CapacityReservationSpecification=spec)
    iid = run["Instances"][0]["InstanceId"]
    expect(run["Instances"][0].get("CapacityReservationId") == rid, f"instance {run['Instances'][0]}")
    cr = ec2.describe_capacity_reservations(CapacityReservationIds=[rid])["CapacityReservations"][0]
    expect((cr["AvailableInstanceCount"], cr["TotalInstanceCount"]) == (0, 1), f"after launch {cr}")
    try:
        ec2.run_instances(ImageId="ami-0123456789abcdef0", InstanceType="m5.large", MinCount=1, MaxCount=1,
                          CapacityReservationSpecification=spec)
        raise AssertionError("a second targeted launch into a full reservation succeeded")
    except botocore.exceptions.ClientError as e:
        code = e.response["Error"]["Code"]
        expect(code == "ReservationCapacityExceeded", f"full reservation: {code}")
    ec2.terminate_instances(InstanceIds=[iid])
    cr = ec2.describe_capacity_reservations(CapacityReservationIds=[rid])["CapacityReservations"][0]
    expect(cr["AvailableInstanceCount"] == 1, f"after terminate {cr}")
    ec2.cancel_capacity_reservation(CapacityReservationId=rid)
    return f"{rid}: available 1 -> 0 -> 1, second launch ReservationCapacityExceeded"


@check("gce: instances.insert with SPECIFIC_RESERVATION moves inUseCount; delete frees it")
def gce_usage(env):
    s, base = gce_session(env)
    zone = "us-east1-b"
    op = gce_wait(s, base, s.post(f"{base}/zones/{zone}/reservations", json={
        "name": "cr-sdk-usage", "specificReservationRequired": True,
        "specificReservation": {"count": "1", "instanceProperties": {"machineType": "n2-standard-4"}},
    }).json())
    expect("error" not in op, f"reservation insert failed: {op.get('error')}")
    vm = {
        "name": "cr-sdk-usage-vm", "machineType": f"zones/{zone}/machineTypes/n2-standard-4",
        "disks": [{"boot": True, "initializeParams": {"sourceImage": "projects/debian-cloud/global/images/family/debian-12"}}],
        "networkInterfaces": [{"network": "global/networks/default"}],
        "reservationAffinity": {"consumeReservationType": "SPECIFIC_RESERVATION",
                                "key": "compute.googleapis.com/reservation-name", "values": ["cr-sdk-usage"]},
    }
    r = s.post(f"{base}/zones/{zone}/instances", json=vm)
    expect(r.status_code == 200, f"instances.insert HTTP {r.status_code}: {r.text[:300]}")
    op = gce_wait(s, base, r.json())
    expect("error" not in op and op["targetLink"].endswith("/instances/cr-sdk-usage-vm"), f"operation {op}")
    used = s.get(f"{base}/zones/{zone}/reservations/cr-sdk-usage").json()["specificReservation"]["inUseCount"]
    expect(used == "1", f"inUseCount after insert {used}")
    second = s.post(f"{base}/zones/{zone}/instances", json=dict(vm, name="cr-sdk-usage-vm2"))
    expect(second.status_code == 400, f"a second VM into the full reservation: HTTP {second.status_code}")
    op = gce_wait(s, base, s.delete(f"{base}/zones/{zone}/instances/cr-sdk-usage-vm").json())
    expect("error" not in op, f"instances.delete failed: {op.get('error')}")
    used = s.get(f"{base}/zones/{zone}/reservations/cr-sdk-usage").json()["specificReservation"]["inUseCount"]
    expect(used == "0", f"inUseCount after delete {used}")
    gce_wait(s, base, s.delete(f"{base}/zones/{zone}/reservations/cr-sdk-usage").json())
    return "inUseCount 0 -> 1 -> 0, a second VM refused"


@check("azure: virtual_machines.begin_create_or_update into a group moves virtualMachinesAllocated; delete frees it")
def azure_usage(env):
    compute, resources = azure_clients(env)
    rg, grp = "cr-sdk-usage", "crg-sdk-usage"
    resources.resource_groups.create_or_update(rg, {"location": "westeurope"})
    group = compute.capacity_reservation_groups.create_or_update(rg, grp, {"location": "westeurope", "zones": ["1"]})
    compute.capacity_reservations.begin_create_or_update(
        rg, grp, "cr-d4", {"location": "westeurope", "sku": {"name": "Standard_D4s_v5", "capacity": 1}, "zones": ["1"]}
    ).result()
    from azure.mgmt.compute import models as m

    nic = f"/subscriptions/{env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{rg}/providers/Microsoft.Network/networkInterfaces/nic0"
    vm = compute.virtual_machines.begin_create_or_update(rg, "vm-sdk-usage", m.VirtualMachine(
        location="westeurope", zones=["1"],
        hardware_profile=m.HardwareProfile(vm_size="Standard_D4s_v5"),
        storage_profile=m.StorageProfile(image_reference=m.ImageReference(
            publisher="Canonical", offer="ubuntu-24_04-lts", sku="server", version="latest")),
        network_profile=m.NetworkProfile(network_interfaces=[m.NetworkInterfaceReference(id=nic)]),
        capacity_reservation=m.CapacityReservationProfile(capacity_reservation_group=m.SubResource(id=group.id)),
    )).result()
    expect(vm.provisioning_state == "Succeeded", f"VM provisioning state {vm.provisioning_state}")
    view = compute.capacity_reservations.get(rg, grp, "cr-d4", expand="instanceView").instance_view
    allocated = [x.id for x in view.utilization_info.virtual_machines_allocated]
    expect(allocated == [vm.id], f"allocated after create {allocated}")
    import azure.core.exceptions

    try:
        compute.capacity_reservations.begin_delete(rg, grp, "cr-d4").result()
        raise AssertionError("deleting a reservation with a VM associated succeeded")
    except azure.core.exceptions.HttpResponseError as e:
        expect(e.status_code == 409, f"delete with a VM associated: {e.status_code} {e.error.code if e.error else ''}")
    compute.virtual_machines.begin_delete(rg, "vm-sdk-usage").result()
    view = compute.capacity_reservations.get(rg, grp, "cr-d4", expand="instanceView").instance_view
    expect(not view.utilization_info.virtual_machines_allocated, f"allocated after delete {view.utilization_info}")
    compute.capacity_reservations.begin_delete(rg, grp, "cr-d4").result()
    compute.capacity_reservation_groups.begin_delete(rg, grp).result()
    resources.resource_groups.begin_delete(rg).result()
    return "virtualMachinesAllocated [] -> [vm] -> [], reservation delete refused (409) meanwhile"


@check("oci: launch_instance with capacityReservationId moves usedInstanceCount/usedCount; terminate frees it")
def oci_usage(env):
    import oci

    cfg = oci_config(env)
    ads = oci_ads(env, cfg)
    compute = oci_client(env, oci.core.ComputeClient, cfg)
    rid = compute.create_compute_capacity_reservation(oci_dense_io(cfg, ads[2].name, 1, display_name="cr-sdk-usage")).data.id
    launched = compute.launch_instance(oci.core.models.LaunchInstanceDetails(
        compartment_id=cfg["tenancy"], availability_domain=ads[2].name, shape="VM.DenseIO.E5.Flex",
        shape_config=oci.core.models.LaunchInstanceShapeConfigDetails(ocpus=8, memory_in_gbs=96),
        source_details=oci.core.models.InstanceSourceViaImageDetails(image_id="ocid1.image.oc1..sdkcheck"),
        create_vnic_details=oci.core.models.CreateVnicDetails(subnet_id="ocid1.subnet.oc1..sdkcheck"),
        capacity_reservation_id=rid,
    )).data
    expect(launched.capacity_reservation_id == rid, f"instance {launched.capacity_reservation_id}")
    got = compute.get_compute_capacity_reservation(rid).data
    expect(got.used_instance_count == 1 and got.instance_reservation_configs[0].used_count == 1,
           f"after launch used {got.used_instance_count}, config {got.instance_reservation_configs[0].used_count}")
    try:
        compute.delete_compute_capacity_reservation(rid)
        raise AssertionError("deleting a reservation with an instance in it succeeded")
    except oci.exceptions.ServiceError as e:
        expect(e.status == 409, f"delete with an instance: {e.status} {e.code}")
    compute.terminate_instance(launched.id)
    got = compute.get_compute_capacity_reservation(rid).data
    expect(got.used_instance_count == 0, f"after terminate used {got.used_instance_count}")
    compute.delete_compute_capacity_reservation(rid)
    return "usedInstanceCount 0 -> 1 -> 0, delete refused (409) while in use"


@check("azure: compute usages list vCPU quotas per family and cores; the caller's permissions")
def azure_preflight(env):
    from azure.core.rest import HttpRequest

    compute, resources = azure_clients(env)
    usages = {u.name.value: u for u in compute.usage.list("westus2")}
    expect("cores" in usages and usages["cores"].name.localized_value == "Total Regional vCPUs",
           f"usages {sorted(usages)}")
    dsv5 = usages.get("standardDSv5Family")
    expect(dsv5 is not None and dsv5.limit == 4 and dsv5.current_value == 0 and dsv5.unit == "Count",
           f"standardDSv5Family {dsv5}")
    sub = env["AZURE_SUBSCRIPTION_ID"]
    path = "providers/Microsoft.Authorization/permissions?api-version=2022-04-01"
    # azure-mgmt-authorization is not installed: azure-core's pipeline (the same bearer policy).
    got = resources.send_request(HttpRequest("GET", f"/subscriptions/{sub}/{path}"))
    got.raise_for_status()
    entries = got.json()["value"]
    expect(len(entries) == 1 and entries[0]["actions"] == ["*"], f"permissions {entries}")
    denied = entries[0]["notActions"]
    expect(denied == ["Microsoft.Resources/subscriptions/locations/read"], f"notActions {denied}")
    missing = resources.send_request(HttpRequest("GET", f"/subscriptions/{sub}/resourceGroups/cr-no-such-rg/{path}"))
    expect(missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceGroupNotFound",
           f"missing resource group: {missing.status_code} {missing.text}")
    return f"standardDSv5Family limit {dsv5.limit}, notActions {denied}"


@check("oci: GetCompartment, ListLimitValues and GetResourceAvailability of a core-count limit")
def oci_preflight(env):
    import oci

    cfg = oci_config(env)
    identity = oci_client(env, oci.identity.IdentityClient, cfg)
    root = identity.get_compartment(cfg["tenancy"]).data
    expect(root.id == cfg["tenancy"] and root.lifecycle_state == "ACTIVE", f"compartment {root}")
    try:
        identity.get_compartment("ocid1.user.oc1..not-a-compartment")
        raise AssertionError("a user OCID was read as a compartment")
    except oci.exceptions.ServiceError as e:
        expect(e.status == 404 and e.code == "NotAuthorizedOrNotFound", f"{e.status} {e.code}")
    ads = oci_ads(env, cfg)
    limits = oci_client(env, oci.limits.LimitsClient, cfg)
    values = oci.pagination.list_call_get_all_results(
        limits.list_limit_values, cfg["tenancy"], "compute", name="standard3-core-count",
        scope_type="AD", availability_domain=ads[1].name).data
    expect([(v.name, v.scope_type, v.availability_domain, v.value) for v in values]
           == [("standard3-core-count", "AD", ads[1].name, 12)], f"limit values {values}")
    avail = limits.get_resource_availability("compute", "standard3-core-count", cfg["tenancy"],
                                             availability_domain=ads[1].name).data
    expect(avail.used == 0 and avail.available == 12, f"availability {avail}")
    try:
        limits.get_resource_availability("compute", "standard3-core-count", cfg["tenancy"])
        raise AssertionError("an AD-scoped limit was answered without availabilityDomain")
    except oci.exceptions.ServiceError as e:
        expect(e.status == 400, f"{e.status} {e.code}")
    return f"{root.name} ACTIVE; standard3-core-count 12 in {ads[1].name}, 0 used"


# --------------------------------------------------------------------------------------------


@check("emulator: every reservation the SDKs made is cancelled or deleted")
def nothing_left(env):
    with urllib.request.urlopen(env["CR_ENDPOINT_HTTP"] + "/_emulator/state") as r:
        state = json.load(r)
    made = state["reservations"]
    live = [(x["cloud"], x["id"], x["state"]) for x in made if x["state"] not in ("cancelled", "deleted", "expired")]
    expect(made, "the emulator recorded no reservation: the checks did not reach it")
    expect(not live, f"still live: {live}")
    running = [(x["cloud"], x["id"]) for x in state.get("instances", [])]
    expect(not running, f"instances still running: {running}")
    return f"{len(made)} made, none live, no instance running"


# One list per cloud (`--only` picks some); `nothing_left` always runs last.
CLOUD_CHECKS = {
    "aws": [aws_lifecycle, aws_pagination, aws_errors, aws_clock_skew, aws_usage, aws_rate_limit],
    "gce": [gce_lifecycle, gce_errors, gce_clock_skew, gce_usage, gce_rate_limit],
    "azure": [azure_lifecycle, azure_stockout, azure_errors, azure_clock_skew, azure_patch, azure_strictness, azure_usage,
              azure_preflight, azure_rate_limit],
    "oci": [oci_lifecycle, oci_stockout, oci_errors, oci_clock_skew, oci_retry_tokens, oci_limits_and_summaries, oci_work_request,
            oci_usage, oci_preflight, oci_rate_limit],
}


def load_env_sh(path):
    env = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cr", required=True, help="path of the cr binary")
    ap.add_argument("--only", action="append", choices=sorted(CLOUD_CHECKS),
                    help="run only this cloud's checks (repeatable; default: every cloud)")
    args = ap.parse_args()
    checks = [run for cloud in (args.only or CLOUD_CHECKS) for run in CLOUD_CHECKS[cloud]] + [nothing_left]
    with tempfile.TemporaryDirectory(prefix="cr-sdk-check-") as creds:
        scenario = os.path.join(creds, "scenario.json")
        with open(scenario, "w") as f:
            json.dump(SCENARIO, f)
        emulator = subprocess.Popen(
            [args.cr, "emulator", "--port", "0", "--tls-port", "0", "--output", "json",
             "--scenario", scenario, "--write-credentials", creds],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = emulator.stdout.readline()
            if not line:
                print(f"FAIL  emulator did not start (exit {emulator.wait()})")
                return 1
            started = json.loads(line)
            env = load_env_sh(started["env_sh"])
            # The SDKs read these from the environment; nothing else of the caller's leaks in.
            for key in [k for k in os.environ if k.startswith(("AWS_", "AZURE_", "OCI_", "GOOGLE_"))]:
                del os.environ[key]
            os.environ.update(env)
            print(f"emulator at {started['https']} (CA {started['ca_bundle']})", flush=True)
            for run in checks:
                run(env)
        finally:
            emulator.terminate()
            emulator.wait(timeout=10)
    failed = [name for name, err in RESULTS if err is not None]
    print(f"sdk-check: {len(RESULTS) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
