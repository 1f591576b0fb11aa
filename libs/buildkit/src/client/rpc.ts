import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { RpcError } from '../errors.js';
import { decode, encode } from '../proto.js';

export const CONTROL = '/moby.buildkit.v1.Control/';

export function serializer(t: protobuf.Type): (v: Record<string, unknown>) => Buffer {
  return (v) => Buffer.from(encode(t, v));
}

export function deserializer<T>(t: protobuf.Type): (b: Buffer) => T {
  return (b) => decode<T>(t, b);
}

export function unary<T>(
  client: grpc.Client,
  method: string,
  req: protobuf.Type,
  res: protobuf.Type,
  value: Record<string, unknown>,
  options: grpc.CallOptions = {},
): { call: grpc.ClientUnaryCall; result: Promise<T> } {
  let call: grpc.ClientUnaryCall | undefined;
  const result = new Promise<T>((resolve, reject) => {
    call = client.makeUnaryRequest<Record<string, unknown>, T>(
      CONTROL + method,
      serializer(req),
      deserializer<T>(res),
      value,
      new grpc.Metadata(),
      options,
      (err, out) => {
        if (err) reject(err);
        else resolve(out as T);
      },
    );
  });
  return { call: call as unknown as grpc.ClientUnaryCall, result };
}

export function rpcError(method: string, e: unknown): RpcError {
  const se = e as grpc.ServiceError;
  return new RpcError(method, se.details || se.message, se.code, { cause: e });
}
