// The format-2 manifest lives in the manifest layer, so validate's checks read it without this engine.
export {
  PITR_MANIFEST_FORMAT,
  isPitrManifest,
  parsePitrManifest,
  readPitrManifestFile,
  type PitrManifest,
} from '../manifest/pitr';
