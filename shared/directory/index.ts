/** Directory documents: the netdoc tokenizer, authority certificates, the microdesc consensus, microdescriptors. */
export { tokenize, encodeNetdoc, decodeAscii, type NetdocItem, type NetdocObject, type NetdocItemInput, type TokenizeOptions } from './netdoc.ts';
export { parseAuthCert, parseAuthCerts, UnverifiedAuthCert, AuthCert, type AuthCertFields, type AuthCertVerifyOptions } from './authcert.ts';
export {
  parseConsensus,
  verifyConsensus,
  supportsProtocol,
  UnverifiedConsensus,
  Consensus,
  ConsensusRejectedError,
  type ConsensusRejection,
  type ConsensusFields,
  type AuthorityId,
  type MissingCert,
  type DirSource,
  type RouterStatus,
  type OrAddress,
  type DirectorySignature,
  type SharedRandomValue,
  type Protocols,
  type ProtocolRange,
  type VerifyConsensusOptions,
} from './consensus.ts';
export { parseMicrodescs, partitionByDigest, type Microdesc, type ParseMicrodescOptions } from './microdesc.ts';
