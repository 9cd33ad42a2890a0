// One private CA per cluster and the certificates its components need, made with the openssl CLI.
// Keys are ECDSA P-256. Files persist in .testbed/<cluster>/pki and are only created when missing.
import { mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface ClusterPki {
  dir: string;
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  adminCert: string;
  adminKey: string;
  controllerManagerCert: string;
  controllerManagerKey: string;
  schedulerCert: string;
  schedulerKey: string;
  kwokClientCert: string;
  kwokClientKey: string;
  /** Serving certificate of kwok's kubelet-like server (the apiserver verifies it). */
  kwokServingCert: string;
  kwokServingKey: string;
  /** Client certificate the apiserver presents to kwok for logs/exec/port-forward. */
  kubeletClientCert: string;
  kubeletClientKey: string;
  /** Service-account token signing pair. */
  serviceAccountKey: string;
  serviceAccountPub: string;
}

interface LeafSpec {
  file: string;
  subject: string;
  usage: "clientAuth" | "serverAuth";
  altNames?: string[];
}

/** Creates the cluster's PKI where missing and returns the file paths. */
export async function ensureClusterPki(
  dir: string,
  clusterName: string,
  serviceIp: string,
): Promise<ClusterPki> {
  await mkdir(dir, { recursive: true });
  const pki = pkiFiles(dir);
  const leaves: LeafSpec[] = [
    {
      file: "apiserver",
      subject: "/CN=kube-apiserver",
      usage: "serverAuth",
      altNames: [
        "DNS:localhost",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
        "IP:127.0.0.1",
        `IP:${serviceIp}`,
      ],
    },
    { file: "admin", subject: "/O=system:masters/CN=testbed-admin", usage: "clientAuth" },
    { file: "controller-manager", subject: "/CN=system:kube-controller-manager", usage: "clientAuth" },
    { file: "scheduler", subject: "/CN=system:kube-scheduler", usage: "clientAuth" },
    // kwok plays every node's kubelet; node-restricted kubelet identities would need one cert per node.
    { file: "kwok-client", subject: "/O=system:masters/CN=kwok-controller", usage: "clientAuth" },
    {
      file: "kwok-serving",
      subject: "/CN=kwok-node-server",
      usage: "serverAuth",
      altNames: ["IP:127.0.0.1"],
    },
    {
      file: "kubelet-client",
      subject: "/O=system:masters/CN=kube-apiserver-kubelet-client",
      usage: "clientAuth",
    },
  ];

  if (!(await exists(pki.caCert))) {
    await newKey(pki.caKey);
    await writeFile(join(dir, "ca.cnf"), caConfig());
    await openssl([
      "req",
      "-x509",
      "-new",
      "-key",
      pki.caKey,
      "-subj",
      `/CN=testbed-${clusterName}-ca`,
      "-days",
      "3650",
      "-config",
      join(dir, "ca.cnf"),
      "-extensions",
      "v3",
      "-out",
      pki.caCert,
    ]);
  }
  for (const leaf of leaves) {
    if (!(await exists(join(dir, `${leaf.file}.crt`)))) await issueLeaf(dir, pki, leaf);
  }
  if (!(await exists(pki.serviceAccountPub))) {
    await newKey(pki.serviceAccountKey);
    await openssl(["pkey", "-in", pki.serviceAccountKey, "-pubout", "-out", pki.serviceAccountPub]);
  }
  return pki;
}

function pkiFiles(dir: string): ClusterPki {
  const f = (name: string) => join(dir, name);
  return {
    dir,
    caCert: f("ca.crt"),
    caKey: f("ca.key"),
    apiserverCert: f("apiserver.crt"),
    apiserverKey: f("apiserver.key"),
    adminCert: f("admin.crt"),
    adminKey: f("admin.key"),
    controllerManagerCert: f("controller-manager.crt"),
    controllerManagerKey: f("controller-manager.key"),
    schedulerCert: f("scheduler.crt"),
    schedulerKey: f("scheduler.key"),
    kwokClientCert: f("kwok-client.crt"),
    kwokClientKey: f("kwok-client.key"),
    kwokServingCert: f("kwok-serving.crt"),
    kwokServingKey: f("kwok-serving.key"),
    kubeletClientCert: f("kubelet-client.crt"),
    kubeletClientKey: f("kubelet-client.key"),
    serviceAccountKey: f("sa.key"),
    serviceAccountPub: f("sa.pub"),
  };
}

async function issueLeaf(dir: string, pki: ClusterPki, leaf: LeafSpec): Promise<void> {
  const key = join(dir, `${leaf.file}.key`);
  const csr = join(dir, `${leaf.file}.csr`);
  const ext = join(dir, `${leaf.file}.ext`);
  await newKey(key);
  await openssl([
    "req",
    "-new",
    "-key",
    key,
    "-subj",
    leaf.subject,
    "-config",
    join(dir, "ca.cnf"),
    "-out",
    csr,
  ]);
  await writeFile(ext, leafExtensions(leaf));
  const serialBytes = crypto.getRandomValues(new Uint8Array(16));
  const serial = "0x" + Array.from(serialBytes, (b) => b.toString(16).padStart(2, "0")).join("");
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    pki.caCert,
    "-CAkey",
    pki.caKey,
    "-set_serial",
    serial,
    "-days",
    "3650",
    "-extfile",
    ext,
    "-extensions",
    "v3",
    "-out",
    join(dir, `${leaf.file}.crt`),
  ]);
}

function caConfig(): string {
  return [
    "[req]",
    "distinguished_name = dn",
    "[dn]",
    "[v3]",
    "basicConstraints = critical,CA:TRUE",
    "keyUsage = critical,keyCertSign,cRLSign,digitalSignature",
    "subjectKeyIdentifier = hash",
    "",
  ].join("\n");
}

function leafExtensions(leaf: LeafSpec): string {
  const lines = [
    "[v3]",
    "basicConstraints = critical,CA:FALSE",
    "keyUsage = critical,digitalSignature,keyEncipherment",
    `extendedKeyUsage = ${leaf.usage}`,
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid",
  ];
  if (leaf.altNames) lines.push(`subjectAltName = ${leaf.altNames.join(",")}`);
  return lines.join("\n") + "\n";
}

function newKey(path: string): Promise<void> {
  return openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path]);
}

async function openssl(args: string[]): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("openssl", { args, stdin: "null" }).output();
  } catch (error) {
    throw new Error(`testbed certs: cannot run openssl (is it installed?): ${error}`);
  }
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`testbed certs: openssl ${args.slice(0, 2).join(" ")} failed: ${stderr}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
