// Loads the PEM files named in the TLS options once, at start().

import { readFile } from "node:fs/promises";
import { TransportError } from "./errors.ts";
import type { TlsFileOptions } from "./options.ts";

export interface LoadedTls {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca: Buffer;
  readonly verifyHostname: boolean;
}

export async function loadTlsFiles(options: TlsFileOptions): Promise<LoadedTls> {
  const read = async (field: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (error) {
      throw new TransportError(
        "TRANSPORT_TLS_FILES_UNREADABLE",
        `cannot read tls.${field} ${path}: ${(error as Error).message}; check the path and its permissions`,
        { cause: error },
      );
    }
  };
  // One after the other, so the first missing file is always the one named in the error.
  const key = await read("keyFile", options.keyFile);
  const cert = await read("certFile", options.certFile);
  const ca = await read("caFile", options.caFile);
  return { key, cert, ca, verifyHostname: options.verifyHostname ?? true };
}
