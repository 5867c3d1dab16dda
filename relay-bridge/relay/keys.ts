import { constants, createPublicKey, generateKeyPairSync, privateEncrypt, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { concatBytes, equalBytes, utf8, Writer } from '../../shared/bytes/index.ts';
import { CertType } from '../../shared/cells/index.ts';
import {
  CertKeyType, Ed25519Cert, verifyEd25519, secureRandomBytes, type NtorKeyPair, type RandomBytes,
  RsaPublicKey, checkRelayIdentityKey,
} from '../../shared/crypto/index.ts';
import { CertificateError, ProtocolError, UsageError } from '../../shared/util/index.ts';
import { Ed25519Signer, clampScalar, expirationHours, issueEd25519Cert } from './ed25519-signer.ts';
import { KeyDirectory, decodeRsaPrivateKeyPem, decodeTagged, encodeRsaPrivateKeyPem, encodeTagged } from '../../node-platform/key-files.ts';

/**
 * The relay's key files in DataDirectory/keys/, named and formatted as tor's (see
 * node-platform/key-files.ts for the formats):
 *
 *   secret_id_key                 RSA-1024 identity, PEM "RSA PRIVATE KEY" (PKCS#1)
 *   secret_onion_key              RSA-1024 TAP onion key, same format (never used for handshakes:
 *                                 0.4.9 authorities still require one in descriptors)
 *   ed25519_master_id_secret_key  tagged "ed25519v1-secret" / "type0": expanded secret (64 bytes)
 *   ed25519_master_id_public_key  tagged "ed25519v1-public" / "type0": public key (32 bytes)
 *   ed25519_signing_secret_key    tagged "ed25519v1-secret" / "type4": expanded secret (64 bytes)
 *   ed25519_signing_cert          tagged "ed25519v1-cert" / "type4": the type-4 certificate
 *   secret_onion_key_ntor         tagged "c25519v1" / "onion": clamped secret ‖ public (64 bytes)
 *   secret_onion_key_ntor.old     the previous ntor key, same format
 *
 * Each file's modification time is set to when its key was made (or, for the previous ntor key,
 * retired), which is what key rotation reads back; tor keeps those times in its state file instead.
 */

export const KeyFile = {
  RSA_IDENTITY: 'secret_id_key',
  TAP_ONION: 'secret_onion_key',
  ED_MASTER_SECRET: 'ed25519_master_id_secret_key',
  ED_MASTER_PUBLIC: 'ed25519_master_id_public_key',
  ED_SIGNING_SECRET: 'ed25519_signing_secret_key',
  ED_SIGNING_CERT: 'ed25519_signing_cert',
  NTOR: 'secret_onion_key_ntor',
  NTOR_OLD: 'secret_onion_key_ntor.old',
} as const;

/**
 * RelayKeys: every long- and medium-term key of a relay (tor-spec "Relay keys and identities"),
 * loaded from DataDirectory/keys/ (tor's file names and formats, see KeyFile) or made on first start.
 *
 *   const keys = await RelayKeys.loadOrCreate('/var/lib/telescope', { now: new Date() });
 *   keys.fingerprint            // "A6AAAA7E…" (SHA-1 of the RSA identity's PKCS#1 DER, upper hex)
 *   keys.rsaIdentityDigest      // the same 20 bytes
 *   keys.ed25519Identity        // 32-byte Ed25519 master identity
 *   keys.ntorKeys               // [current, previous?]: what ntorServerHandshake's onionKeys wants
 *   keys.identity.signRawDigest(sha1(doc))   // dir-spec document signatures
 *   keys.signing.signer.sign(msg)            // the Ed25519 signing key ("KP_relaysign_ed")
 *   keys.rsaCrossCert(now)      // CERTS type 7 body
 *   await keys.maintain(now)    // renew the signing key, rotate onion keys; call every hour or so
 *
 * Keys and their lifetimes (tor's defaults, all parameters of RelayKeyPolicy):
 *   - RSA-1024 identity ("secret_id_key") and Ed25519 master identity: forever. They name the relay.
 *   - Ed25519 signing key, certified by the master key (type-4 cert): 30 days, renewed one day
 *     before its certificate expires. Everything else Ed25519 is signed with it.
 *   - ntor onion key (curve25519): a new one every 28 days; the previous one is kept (and accepted
 *     by ntorServerHandshake) for 7 more days, since clients use the key of the descriptor they have.
 *   - TAP onion key (RSA-1024): never used — TAP is gone in 0.4.9 — but 0.4.9 authorities reject a
 *     descriptor without one ("Missing TAP key in descriptor"), so a dummy one is kept and rotated
 *     with the ntor key, as tor does ("publish-dummy-tap-key").
 *   - RSA→Ed25519 cross-certificate (CERTS type 7): made in memory, valid 180 days, remade when
 *     less than half of that remains.
 */

export interface RelayKeyPolicy {
  /** Age at which the ntor (and dummy TAP) onion key is replaced. tor: 28 days. */
  readonly onionKeyRotationMs: number;
  /** How long a replaced ntor key is still accepted. tor: 7 days. */
  readonly onionKeyGraceMs: number;
  /** Validity of a new signing key's certificate. tor: 30 days. */
  readonly signingKeyLifetimeMs: number;
  /** Renew the signing key when less than this remains of its certificate. tor: 1 day. */
  readonly signingKeyRenewMs: number;
  /** Validity of the RSA→Ed25519 cross-certificate. tor: 180 days. */
  readonly rsaCrossCertLifetimeMs: number;
}

const DAY = 86_400_000;

export const DEFAULT_KEY_POLICY: RelayKeyPolicy = Object.freeze({
  onionKeyRotationMs: 28 * DAY,
  onionKeyGraceMs: 7 * DAY,
  signingKeyLifetimeMs: 30 * DAY,
  signingKeyRenewMs: 1 * DAY,
  rsaCrossCertLifetimeMs: 180 * DAY,
});

/** An RSA private key with the signatures Tor needs. Used for the identity and TAP onion keys. */
export class RsaKey {
  /** PKCS#1 RSAPublicKey DER: what fingerprints and descriptors are made of. */
  readonly publicDer: Uint8Array;
  readonly publicKey: RsaPublicKey;

  constructor(readonly privateKey: KeyObject) {
    if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'rsa') throw new UsageError('RsaKey needs an RSA private key');
    this.publicDer = new Uint8Array(createPublicKey(privateKey).export({ type: 'pkcs1', format: 'der' }));
    this.publicKey = RsaPublicKey.fromPkcs1Der(this.publicDer);
  }

  /** A fresh key; relays' identity and onion keys are 1024 bits with exponent 65537. */
  static generate(bits = 1024): RsaKey {
    return new RsaKey(generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 65537 }).privateKey);
  }

  /** SHA-1 of the PKCS#1 DER: the relay's identity digest when this is the identity key. */
  get digest(): Uint8Array {
    return this.publicKey.identityDigest();
  }

  /** The digest as 40 upper-case hex digits. */
  get fingerprint(): string {
    return this.publicKey.fingerprint();
  }

  /**
   * PKCS#1 v1.5 type-1 padding around the bare `digest`, no DigestInfo: the signatures of dir-spec
   * documents (router-signature), the RSA→Ed25519 cross-certificate and onion-key-crosscert.
   * (privateEncrypt with PKCS1 padding is exactly that "raw" signature.)
   */
  signRawDigest(digest: Uint8Array): Uint8Array {
    return new Uint8Array(privateEncrypt({ key: this.privateKey, padding: constants.RSA_PKCS1_PADDING }, digest));
  }

  /** Standard RSASSA-PKCS1-v1_5 with SHA-256 over `data`: X.509 certificate signatures. */
  signSha256(data: Uint8Array): Uint8Array {
    return new Uint8Array(cryptoSign('sha256', data, { key: this.privateKey, padding: constants.RSA_PKCS1_PADDING }));
  }
}

/** The Ed25519 signing key and its type-4 certificate from the master identity. */
export interface SigningKey {
  readonly signer: Ed25519Signer;
  /** Type 4 (identity → signing), with the signed-with-ed25519-key extension. */
  readonly cert: Ed25519Cert;
  readonly expires: Date;
}

/** An ntor onion key with the time it was made (current) or retired (previous). */
export interface DatedNtorKey {
  readonly key: NtorKeyPair;
  readonly since: Date;
}

export interface MaintenanceResult {
  readonly signingKeyRenewed: boolean;
  readonly onionKeyRotated: boolean;
  readonly previousOnionKeyDropped: boolean;
}

export interface RelayKeysOptions {
  readonly now?: Date;
  readonly policy?: Partial<RelayKeyPolicy>;
  readonly random?: RandomBytes;
}

const CROSSCERT_PREFIX = utf8('Tor TLS RSA/Ed25519 cross-certificate');

/** A fresh curve25519 onion key, clamped as tor stores it (x25519 clamps anyway: same public key). */
function newNtorKey(random: RandomBytes): NtorKeyPair {
  const secret = clampScalar(random(32));
  return { secret, public: x25519.getPublicKey(secret) };
}

function ntorFileBody(k: NtorKeyPair): Uint8Array {
  return encodeTagged('c25519v1', 'onion', concatBytes(k.secret, k.public));
}

function ntorFromFile(bytes: Uint8Array, file: string): NtorKeyPair {
  const body = decodeTagged(bytes, file, 'c25519v1', 'onion', 64);
  const secret = body.slice(0, 32);
  const pub = body.slice(32, 64);
  if (!equalBytes(x25519.getPublicKey(secret), pub)) throw new ProtocolError(`key file ${file}`, 'public key does not match the secret key');
  return { secret, public: pub };
}

export class RelayKeys {
  readonly policy: RelayKeyPolicy;
  private signingKey: SigningKey;
  private ntorCurrent: DatedNtorKey;
  private ntorPrevious: DatedNtorKey | undefined;
  private tapKey: RsaKey;
  private crossCert: { body: Uint8Array; expires: Date } | undefined;

  private constructor(
    readonly identity: RsaKey,
    /** The Ed25519 master identity key. */
    readonly master: Ed25519Signer,
    state: { signing: SigningKey; ntor: DatedNtorKey; ntorPrevious: DatedNtorKey | undefined; tap: RsaKey },
    policy: RelayKeyPolicy,
    private readonly dir: KeyDirectory | undefined,
    private readonly random: RandomBytes,
  ) {
    checkRelayIdentityKey(identity.publicKey);
    this.policy = policy;
    this.signingKey = state.signing;
    this.ntorCurrent = state.ntor;
    this.ntorPrevious = state.ntorPrevious;
    this.tapKey = state.tap;
  }

  /** Upper-case hex SHA-1 of the RSA identity key (PKCS#1 DER). */
  get fingerprint(): string {
    return this.identity.fingerprint;
  }

  /** The 20-byte RSA identity digest (what ntor binds, and link specifiers carry). */
  get rsaIdentityDigest(): Uint8Array {
    return this.identity.digest;
  }

  /** The 32-byte Ed25519 master identity. */
  get ed25519Identity(): Uint8Array {
    return this.master.publicKey;
  }

  get signing(): SigningKey {
    return this.signingKey;
  }

  /** The current ntor onion key (the one to publish). */
  get ntorKey(): NtorKeyPair {
    return this.ntorCurrent.key;
  }

  /** When the current ntor key was made. */
  get ntorKeyCreated(): Date {
    return this.ntorCurrent.since;
  }

  /** Current, then previous (while in its grace period): ntorServerHandshake's `onionKeys`. */
  get ntorKeys(): readonly NtorKeyPair[] {
    return this.ntorPrevious ? [this.ntorCurrent.key, this.ntorPrevious.key] : [this.ntorCurrent.key];
  }

  /** The dummy TAP onion key 0.4.9 authorities still require in descriptors. */
  get tapOnionKey(): RsaKey {
    return this.tapKey;
  }

  /**
   * The RSA→Ed25519 cross-certificate (cert-spec §2.3, CERTS type 7):
   *   ED25519_KEY | EXPIRATION (hours) | SIGLEN | SIG over SHA-256(prefix ‖ the fields before it).
   */
  rsaCrossCert(now: Date): Uint8Array {
    const c = this.crossCert;
    if (c && c.expires.getTime() - now.getTime() > this.policy.rsaCrossCertLifetimeMs / 2) return c.body;
    const expires = new Date(now.getTime() + this.policy.rsaCrossCertLifetimeMs);
    const signed = new Writer(36).bytes(this.ed25519Identity).u32(expirationHours(expires)).finish();
    const sig = this.identity.signRawDigest(sha256(concatBytes(CROSSCERT_PREFIX, signed)));
    const body = new Writer(37 + sig.length).bytes(signed).u8(sig.length).bytes(sig).finish();
    this.crossCert = { body, expires };
    return body;
  }

  /** When maintain() next has something to do. */
  nextMaintenance(): Date {
    const times = [
      this.signingKey.expires.getTime() - this.policy.signingKeyRenewMs,
      this.ntorCurrent.since.getTime() + this.policy.onionKeyRotationMs,
    ];
    if (this.ntorPrevious) times.push(this.ntorPrevious.since.getTime() + this.policy.onionKeyGraceMs);
    return new Date(Math.min(...times));
  }

  /**
   * Renew the signing key near its expiry, rotate the onion keys when they are old, forget the
   * previous ntor key after its grace period; changes are saved. The caller republishes its
   * descriptor (and remakes its CERTS cells) when anything changed.
   */
  async maintain(now: Date): Promise<MaintenanceResult> {
    const p = this.policy;
    let signingKeyRenewed = false;
    let onionKeyRotated = false;
    let previousOnionKeyDropped = false;
    if (this.signingKey.expires.getTime() - now.getTime() <= p.signingKeyRenewMs) {
      this.signingKey = makeSigningKey(this.master, now, p, this.random);
      await this.saveSigningKey(now);
      signingKeyRenewed = true;
    }
    if (now.getTime() - this.ntorCurrent.since.getTime() >= p.onionKeyRotationMs) {
      this.ntorPrevious = { key: this.ntorCurrent.key, since: now };
      this.ntorCurrent = { key: newNtorKey(this.random), since: now };
      this.tapKey = RsaKey.generate(1024);
      if (this.dir) {
        await this.dir.write(KeyFile.NTOR_OLD, ntorFileBody(this.ntorPrevious.key), now);
        await this.dir.write(KeyFile.NTOR, ntorFileBody(this.ntorCurrent.key), now);
        await this.dir.write(KeyFile.TAP_ONION, encodeRsaPrivateKeyPem(this.tapKey.privateKey), now);
      }
      onionKeyRotated = true;
    }
    if (this.ntorPrevious && now.getTime() - this.ntorPrevious.since.getTime() >= p.onionKeyGraceMs) {
      this.ntorPrevious = undefined;
      if (this.dir) await rm(join(this.dir.path, KeyFile.NTOR_OLD), { force: true });
      previousOnionKeyDropped = true;
    }
    return { signingKeyRenewed, onionKeyRotated, previousOnionKeyDropped };
  }

  /** Fresh keys held only in memory (tests, throwaway relays). */
  static generate(options: RelayKeysOptions = {}): RelayKeys {
    const now = options.now ?? new Date();
    const random = options.random ?? secureRandomBytes;
    const policy = { ...DEFAULT_KEY_POLICY, ...options.policy };
    const master = Ed25519Signer.generate(random);
    return new RelayKeys(
      RsaKey.generate(1024),
      master,
      { signing: makeSigningKey(master, now, policy, random), ntor: { key: newNtorKey(random), since: now }, ntorPrevious: undefined, tap: RsaKey.generate(1024) },
      policy,
      undefined,
      random,
    );
  }

  /**
   * Load the keys in `dataDirectory`/keys, making (and saving) whatever is missing, then run
   * maintain(now) once. A master identity whose secret half is absent (tor's offline master key)
   * is not supported: that is an error rather than a silent new identity.
   */
  static async loadOrCreate(dataDirectory: string, options: RelayKeysOptions = {}): Promise<RelayKeys> {
    const now = options.now ?? new Date();
    const random = options.random ?? secureRandomBytes;
    const policy = { ...DEFAULT_KEY_POLICY, ...options.policy };
    const dir = new KeyDirectory(dataDirectory);
    await dir.ensure();

    // RSA identity.
    let identity: RsaKey;
    const idFile = await dir.read(KeyFile.RSA_IDENTITY);
    if (idFile) {
      identity = new RsaKey(decodeRsaPrivateKeyPem(idFile.bytes, KeyFile.RSA_IDENTITY));
      try {
        checkRelayIdentityKey(identity.publicKey);
      } catch (e) {
        throw new ProtocolError(`key file ${KeyFile.RSA_IDENTITY}`, (e as CertificateError).message, undefined, { cause: e });
      }
    } else {
      identity = RsaKey.generate(1024);
      await dir.write(KeyFile.RSA_IDENTITY, encodeRsaPrivateKeyPem(identity.privateKey), now);
    }

    // Ed25519 master identity.
    let master: Ed25519Signer;
    const masterFile = await dir.read(KeyFile.ED_MASTER_SECRET);
    const masterPublicFile = await dir.read(KeyFile.ED_MASTER_PUBLIC);
    if (masterFile) {
      master = Ed25519Signer.fromExpanded(decodeTagged(masterFile.bytes, KeyFile.ED_MASTER_SECRET, 'ed25519v1-secret', 'type0', 64));
      if (masterPublicFile) {
        const pub = decodeTagged(masterPublicFile.bytes, KeyFile.ED_MASTER_PUBLIC, 'ed25519v1-public', 'type0', 32);
        if (!equalBytes(pub, master.publicKey)) throw new ProtocolError(`key file ${KeyFile.ED_MASTER_PUBLIC}`, 'does not match the master secret key');
      } else {
        await dir.write(KeyFile.ED_MASTER_PUBLIC, encodeTagged('ed25519v1-public', 'type0', master.publicKey), now);
      }
    } else if (masterPublicFile) {
      throw new UsageError(`${dir.path} has an Ed25519 master public key but no secret key (an offline master key); Telescope needs ${KeyFile.ED_MASTER_SECRET}`);
    } else {
      master = Ed25519Signer.generate(random);
      await dir.write(KeyFile.ED_MASTER_SECRET, encodeTagged('ed25519v1-secret', 'type0', master.expanded), now);
      await dir.write(KeyFile.ED_MASTER_PUBLIC, encodeTagged('ed25519v1-public', 'type0', master.publicKey), now);
    }

    // Signing key and its certificate: remade if missing, not ours, or unreadable.
    let signing = await loadSigningKey(dir, master);
    let saveSigning = false;
    if (!signing) {
      signing = makeSigningKey(master, now, policy, random);
      saveSigning = true;
    }

    // Onion keys.
    let ntor: DatedNtorKey;
    const ntorFile = await dir.read(KeyFile.NTOR);
    if (ntorFile) ntor = { key: ntorFromFile(ntorFile.bytes, KeyFile.NTOR), since: ntorFile.mtime };
    else {
      ntor = { key: newNtorKey(random), since: now };
      await dir.write(KeyFile.NTOR, ntorFileBody(ntor.key), now);
    }
    const oldFile = await dir.read(KeyFile.NTOR_OLD);
    const ntorPrevious = oldFile ? { key: ntorFromFile(oldFile.bytes, KeyFile.NTOR_OLD), since: oldFile.mtime } : undefined;
    let tap: RsaKey;
    const tapFile = await dir.read(KeyFile.TAP_ONION);
    if (tapFile) tap = new RsaKey(decodeRsaPrivateKeyPem(tapFile.bytes, KeyFile.TAP_ONION));
    else {
      tap = RsaKey.generate(1024);
      await dir.write(KeyFile.TAP_ONION, encodeRsaPrivateKeyPem(tap.privateKey), ntor.since);
    }

    const keys = new RelayKeys(identity, master, { signing, ntor, ntorPrevious, tap }, policy, dir, random);
    if (saveSigning) await keys.saveSigningKey(now);
    await keys.maintain(now);
    return keys;
  }

  private async saveSigningKey(now: Date): Promise<void> {
    if (!this.dir) return;
    await this.dir.write(KeyFile.ED_SIGNING_SECRET, encodeTagged('ed25519v1-secret', 'type4', this.signingKey.signer.expanded), now);
    await this.dir.write(KeyFile.ED_SIGNING_CERT, encodeTagged('ed25519v1-cert', 'type4', this.signingKey.cert.encode()), now);
  }
}

function makeSigningKey(master: Ed25519Signer, now: Date, policy: RelayKeyPolicy, random: RandomBytes): SigningKey {
  const signer = Ed25519Signer.generate(random);
  const cert = issueEd25519Cert(
    {
      certType: CertType.IDENTITY_V_SIGNING,
      certKeyType: CertKeyType.ED25519,
      certifiedKey: signer.publicKey,
      expires: new Date(now.getTime() + policy.signingKeyLifetimeMs),
      includeSignerKey: true,
    },
    master,
  );
  return { signer, cert, expires: cert.expires };
}

/** The stored signing key, if present, certified by `master` for that very key; else undefined. */
async function loadSigningKey(dir: KeyDirectory, master: Ed25519Signer): Promise<SigningKey | undefined> {
  const secretFile = await dir.read(KeyFile.ED_SIGNING_SECRET);
  const certFile = await dir.read(KeyFile.ED_SIGNING_CERT);
  if (!secretFile || !certFile) return undefined;
  const signer = Ed25519Signer.fromExpanded(decodeTagged(secretFile.bytes, KeyFile.ED_SIGNING_SECRET, 'ed25519v1-secret', 'type4', 64));
  const cert = Ed25519Cert.decode(decodeTagged(certFile.bytes, KeyFile.ED_SIGNING_CERT, 'ed25519v1-cert', 'type4'));
  const ok =
    cert.certType === CertType.IDENTITY_V_SIGNING &&
    equalBytes(cert.certifiedKey, signer.publicKey) &&
    verifyEd25519(cert.signature, cert.signedBytes, master.publicKey) &&
    cert.signingKeyFromExtension !== undefined &&
    equalBytes(cert.signingKeyFromExtension, master.publicKey);
  // A certificate from another master key or for another signing key is replaced, as tor does.
  return ok ? { signer, cert, expires: cert.expires } : undefined;
}
