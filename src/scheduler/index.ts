// Scheduling decisions for the Job controller: when (timing, cron), whether there is room
// (admission, node capacity), and what a cron Job's history keeps. No I/O but capacity detection.
export { Admission, cpuListText, type Admit, type NodeAllocatable, type QueueOrder, type ResourceRequest } from "./admission.js";
export { CronTimes, type DueTimes } from "./cron-times.js";
export { memoryAllocatable, memTotalBytes, nodeAllocatable, onlineCpus } from "./node-capacity.js";
export { missedRuns, trimRuns, type HistoryLimits } from "./run-history.js";
export { cronStep, describeSchedule, oneShotStep, oneShotTime, pastDeadline, type CronStep, type OneShotStep } from "./timing.js";
