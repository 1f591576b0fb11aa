import { describe, expect, it } from 'vitest';
import { deliveryInfo } from '@melange2/queue/internal';

describe('deliveryInfo', () => {
  it('reads the delivery count and stream sequence of both ack subject forms', () => {
    expect(deliveryInfo('$JS.ACK.S.agents-x86_64.2.17.30.1796686311479015025.0')).toEqual({
      deliveryCount: 2,
      streamSeq: 17,
    });
    expect(deliveryInfo('$JS.ACK.hub.ACCHASH.S.agents-x86_64.1.5.6.1796686311479015025.3.r4nd')).toEqual({
      deliveryCount: 1,
      streamSeq: 5,
    });
  });

  it('is undefined for anything else (a status, a plain reply, a short or garbled subject)', () => {
    for (const s of [
      undefined,
      '',
      '_INBOX.x.1',
      '$JS.ACK.S.c.1.2',
      '$JS.ACK.S.c.x.2.3.4.5',
      '$JS.API.X.S.c.1.2.3.4.5',
    ])
      expect(deliveryInfo(s)).toBeUndefined();
  });
});
