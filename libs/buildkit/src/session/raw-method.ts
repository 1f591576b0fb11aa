import type * as grpc from '@grpc/grpc-js';

/** Passes bytes through: session messages are encoded and decoded by our own codecs. */
export const identity = (b: Buffer): Buffer => b;

/** A gRPC method of a session service that moves raw protobuf bytes (unary, or streaming both ways). */
export function rawMethod(path: string, streaming: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: streaming,
    responseStream: streaming,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}
