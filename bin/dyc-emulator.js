#!/usr/bin/env node
// The same CLI as bin/emulator.js, under a name that does not collide with the Android SDK's `emulator`.
import { run } from '../dist/cli/main.js';

run('dyc-emulator');
