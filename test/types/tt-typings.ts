// Compile-time proof that dyc-emulator/tt has the platform's shape: our createCloud and
// callContainer are assigned to the types of @douyin-microapp/typings (the npm package
// Douyin publishes for mini-program code). Checked by `npm run typecheck` and by
// test/tt.test.ts, which runs tsc on this file.

import type { Cloud as TtCloud, createCloud as ttCreateCloudValue } from '@douyin-microapp/typings/api/create-cloud.js';
import { createCloud, type Cloud } from 'dyc-emulator/tt';

type TtCreateCloud = typeof ttCreateCloudValue;
type TtCallContainer = TtCloud['callContainer'];

// createCloud accepts everything tt.createCloud accepts, and its Cloud has the platform's envID, serviceID and callContainer.
export const asPlatformCreateCloud: (...args: Parameters<TtCreateCloud>) => Pick<TtCloud, 'envID' | 'serviceID' | 'callContainer'> = createCloud;

const cloud: Cloud = createCloud({ envID: 'env-local', serviceID: 'gateway' });
export const asPlatformCallContainer: TtCallContainer = cloud.callContainer;
export const asPlatformCloud: Pick<TtCloud, 'envID' | 'serviceID' | 'callContainer'> = cloud;

// Code written against the platform's typings compiles against ours, callbacks included.
const platformCall: Parameters<TtCallContainer>[0] = {
  path: '/api/orders',
  init: { method: 'post', header: { 'content-type': 'application/json' }, body: { item: 'mug' }, timeout: 5000 },
  success: ({ statusCode, header, data, errMsg }) => void [statusCode.toFixed(), header, data.length, errMsg.length],
  fail: ({ errMsg, errNo }) => void [errMsg, errNo],
  complete: (res) => void res.errMsg,
};
export const viaOurs: Promise<{ statusCode: number; data: string }> = cloud.callContainer(platformCall);

// The checks above can fail: a method the platform does not list is refused by both.
// @ts-expect-error HEAD is not a callContainer method
cloud.callContainer({ path: '/', init: { method: 'HEAD' } });
// @ts-expect-error path is required
cloud.callContainer({ init: { method: 'GET' } });
