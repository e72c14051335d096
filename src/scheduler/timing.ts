/**
 * When a scheduled Job runs, decided from its schedule, what its status
 * recorded, and the time now (passed in: tests give their own clock). Pure:
 * the Job controller persists what these return, so a restarted daemon
 * decides the same way and runs nothing twice.
 */
import { rfc3339Ms, scheduleDurationMs, type Schedule } from "../api/index.js";
import { CronTimes } from "./cron-times.js";

/** A one-shot's start time (epoch ms): startAt, or startAfter counted from when the spec was first seen. */
export function oneShotTime(schedule: Schedule, firstSeen: number): number {
  if (schedule.startAt !== undefined) return rfc3339Ms(schedule.startAt) ?? firstSeen;
  return firstSeen + (scheduleDurationMs(schedule.startAfter ?? "0s") ?? 0);
}

/** startingDeadlineSeconds passed since `due` (no deadline: never). */
export function pastDeadline(due: number, now: number, deadlineSeconds: number | undefined): boolean {
  return deadlineSeconds !== undefined && now - due > deadlineSeconds * 1000;
}

export type OneShotStep = { wait: number } | { start: true } | { missed: true };

/** Wait until its time, then start; too late past startingDeadlineSeconds and it is missed. */
export function oneShotStep(due: number, now: number, deadlineSeconds?: number): OneShotStep {
  if (now < due) return { wait: due - now };
  return pastDeadline(due, now, deadlineSeconds) ? { missed: true } : { start: true };
}

export interface CronStep {
  /** A due time to start a run for now. */
  start?: number;
  /** Due times passed over, oldest first: all but the latest, and the latest too when past the deadline. */
  missed: number[];
  /** More were passed over than listed (a long outage of a frequent schedule). */
  moreMissed: boolean;
  /** The latest due time taken: the new lastScheduleTime (unchanged when nothing was due). */
  last?: number;
  /** The next due time after this step. */
  next?: number;
}

/**
 * What a cron Job does at `now`, given the due time it last took (or, before
 * its first, when its spec was first seen): only the most recent due time may
 * start, as in Kubernetes CronJobs, and only within startingDeadlineSeconds.
 */
export function cronStep(times: CronTimes, after: number, now: number, deadlineSeconds?: number): CronStep {
  const due = times.due(after, now);
  const latest = due.times.at(-1);
  if (latest === undefined) {
    const next = times.next(after);
    return { missed: [], moreMissed: false, ...(next !== undefined ? { next } : {}) };
  }
  const missed = due.times.slice(0, -1);
  const late = pastDeadline(latest, now, deadlineSeconds);
  if (late) missed.push(latest);
  const next = times.next(latest);
  return { ...(late ? {} : { start: latest }), missed, moreMissed: due.more, last: latest, ...(next !== undefined ? { next } : {}) };
}

/** How a schedule reads in messages: "startAfter 2s", "cron '*\/5 * * * *' (UTC)". */
export function describeSchedule(schedule: Schedule): string {
  if (schedule.cron !== undefined) return `cron '${schedule.cron}' (${schedule.timeZone ?? "UTC"})`;
  return schedule.startAt !== undefined ? `startAt ${schedule.startAt}` : `startAfter ${schedule.startAfter}`;
}
