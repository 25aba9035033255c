// An app instance for the slot tests, in a process of its own: the SDK's Entitlements against a
// control plane, acquiring and releasing slots of one gauge as the parent tells it over IPC.
//   argv: url token tenant meter subject ttlSeconds
//   {type: 'churn', rounds}  acquire two at once, hold a moment, release, `rounds` times → {type: 'churned', admitted, refused}
//   {type: 'hold', n}        acquire n slots and keep them → {type: 'holding', held, refusals}
//   {type: 'exit'}           close the SDK (releasing every slot) and leave
import { ControlPlaneClient } from '../../packages/sdk/src/control-plane/index.ts';
import { Entitlements, type Slot } from '../../packages/sdk/src/entitlements/index.ts';

const [url, token, tenant, meter, subject, ttl] = process.argv.slice(2);
if (!url || !token || !tenant || !meter || !subject || !ttl)
  throw new Error('usage: slot-app url token tenant meter subject ttl');

const sdk = new Entitlements(new ControlPlaneClient({ url, token }), {
  slots: { ttlSeconds: Number(ttl), instanceId: `slot-app-${subject}-${process.pid}` },
});
const held: Slot[] = [];
const send = (message: unknown) => process.send?.(message);
const pause = () => new Promise((resolve) => setTimeout(resolve, 1 + Math.floor(Math.random() * 10)));

process.on('message', async (message: { type: string; rounds?: number; n?: number }) => {
  try {
    if (message.type === 'churn') {
      let admitted = 0;
      const refused: string[] = [];
      for (let i = 0; i < (message.rounds ?? 0); i++) {
        const answers = await Promise.all([1, 2].map(() => sdk.acquire(tenant, meter, { subject })));
        await pause();
        for (const answer of answers) {
          if (answer.allowed) {
            admitted += 1;
            await answer.slot.release();
          } else {
            refused.push(`${answer.reason}:${answer.scope ?? ''}`);
          }
        }
      }
      send({ type: 'churned', admitted, refused });
    } else if (message.type === 'hold') {
      const refusals: string[] = [];
      for (let i = 0; i < (message.n ?? 0); i++) {
        const answer = await sdk.acquire(tenant, meter, { subject });
        if (answer.allowed) held.push(answer.slot);
        else refusals.push(answer.detail);
      }
      send({ type: 'holding', held: held.length, refusals });
    } else if (message.type === 'exit') {
      await sdk.close();
      process.exit(0);
    }
  } catch (error) {
    send({ type: 'error', message: error instanceof Error ? error.stack : String(error) });
  }
});
send({ type: 'ready' });
