import * as grpc from '@grpc/grpc-js';
import { decode, encode, secrets as types } from '../proto.js';
import { rawMethod } from './raw-method.js';
import type { Attachable } from './session.js';

/**
 * `moby.buildkit.secrets.v1.Secrets/GetSecret`: values live only in this process and reach the
 * step through secret mounts or secret env; the Definition carries nothing but the ID.
 */
export class SecretsProvider implements Attachable {
  readonly #values: ReadonlyMap<string, Uint8Array>;

  constructor(values: Readonly<Record<string, string | Uint8Array>>) {
    this.#values = new Map(
      Object.entries(values).map(([k, v]) => [k, typeof v === 'string' ? Buffer.from(v, 'utf8') : v]),
    );
  }

  register(server: grpc.Server): string[] {
    server.addService(
      {
        GetSecret: rawMethod('/moby.buildkit.secrets.v1.Secrets/GetSecret', false),
      },
      {
        GetSecret: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
          const { ID } = decode<{ ID: string }>(types.GetSecretRequest, call.request);
          const v = this.#values.get(ID);
          if (!v) {
            cb({ code: grpc.status.NOT_FOUND, details: `secret ${ID} not found` });
            return;
          }
          cb(null, Buffer.from(encode(types.GetSecretResponse, { data: v })));
        },
      },
    );
    return ['/moby.buildkit.secrets.v1.Secrets/GetSecret'];
  }
}
