/**
 * Notifications: targets, the notifier, and the store wrapper that keeps what the fleet sent.
 *
 * @module
 */
export { childEnv, isSecretEnvName } from '../util/child-env.js';
export { keepNotificationState } from './keep-state.js';
export {
  buildNotification,
  type Notification,
  type NotifyEvent,
  notificationText,
} from './message.js';
export {
  createNotifier,
  type Notifier,
  type NotifierOptions,
  type NotifyLog,
  SCHWAB_THRESHOLDS_MS,
  TD_THRESHOLDS_MS,
} from './notifier.js';
export { STATE_FIELD } from './state.js';
export {
  type NotifyTarget,
  parseNotifyTarget,
  scrubTargets,
  splitNotifyTargets,
  type TargetKind,
} from './targets.js';
