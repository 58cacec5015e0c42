// The part of Kubernetes' batch/v1 Job schema a pvsim sweep's manifest uses, written with
// zod from the OpenAPI definitions (io.k8s.api.batch.v1.Job, JobSpec, core/v1 PodTemplateSpec,
// PodSpec, Container, EnvVar, VolumeMount, Volume, PersistentVolumeClaimVolumeSource,
// ResourceRequirements, meta/v1 ObjectMeta) and the API server's validation of them
// (pkg/apis/batch/validation, core/validation): the fields' types, formats and limits.
// Objects are strict, as `kubectl apply --validate=strict` is: an unknown or misspelt field
// is an error. Only this subset is modelled; a field outside it fails, which is the point.

import { z } from 'zod';

const int32 = z.number().int().min(-(2 ** 31)).max(2 ** 31 - 1);
/** RFC 1123 label: what names of containers, volumes and (through its pods' labels) Jobs are. */
const dns1123Label = z.string().max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a lowercase RFC 1123 label');
/** A label key: optional DNS subdomain prefix and a name of at most 63. */
const labelKey = z.string().regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, 'a label key');
const labelValue = z.string().max(63).regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, 'a label value');
/** resource.Quantity's serialised form. */
const quantity = z.string().regex(/^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$/, 'a quantity such as 1, 500m, 1Gi');

const ObjectMeta = z
  .object({
    name: dns1123Label,
    namespace: dns1123Label.optional(),
    labels: z.record(labelKey, labelValue).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .strict();

const EnvVar = z.object({ name: z.string().regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, 'an environment variable name'), value: z.string().optional() }).strict();
const VolumeMount = z.object({ name: z.string(), mountPath: z.string().regex(/^\//, 'an absolute path'), readOnly: z.boolean().optional(), subPath: z.string().optional() }).strict();
const Resources = z.object({ requests: z.record(z.string(), quantity).optional(), limits: z.record(z.string(), quantity).optional() }).strict();

const Container = z
  .object({
    name: dns1123Label,
    image: z.string().min(1),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    workingDir: z.string().optional(),
    env: z.array(EnvVar).optional(),
    resources: Resources.optional(),
    volumeMounts: z.array(VolumeMount).optional(),
    imagePullPolicy: z.enum(['Always', 'Never', 'IfNotPresent']).optional(),
  })
  .strict();

const Volume = z
  .object({
    name: dns1123Label,
    persistentVolumeClaim: z.object({ claimName: z.string().min(1), readOnly: z.boolean().optional() }).strict().optional(),
    emptyDir: z.object({}).strict().optional(),
  })
  .strict()
  .refine((v) => Number(v.persistentVolumeClaim !== undefined) + Number(v.emptyDir !== undefined) === 1, 'a volume has exactly one source');

const PodSpec = z
  .object({
    // A Job's pods may not restart forever (core validation of a Job's template).
    restartPolicy: z.enum(['Never', 'OnFailure']),
    containers: z.array(Container).min(1),
    volumes: z.array(Volume).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    const vols = new Set((p.volumes ?? []).map((v) => v.name));
    if (vols.size !== (p.volumes ?? []).length) ctx.addIssue({ code: 'custom', message: 'volume names must be unique' });
    for (const c of p.containers) for (const m of c.volumeMounts ?? []) if (!vols.has(m.name)) ctx.addIssue({ code: 'custom', message: `volumeMount ${m.name} names no volume` });
  });

const JobSpec = z
  .object({
    completionMode: z.enum(['NonIndexed', 'Indexed']).optional(),
    completions: int32.min(0).optional(),
    parallelism: int32.min(0).optional(),
    backoffLimit: int32.min(0).optional(),
    backoffLimitPerIndex: int32.min(0).optional(),
    activeDeadlineSeconds: z.number().int().positive().optional(),
    ttlSecondsAfterFinished: int32.min(0).optional(),
    template: z.object({ metadata: z.object({ labels: z.record(labelKey, labelValue).optional() }).strict().optional(), spec: PodSpec }).strict(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.completionMode === 'Indexed') {
      // batch validation: an Indexed Job needs completions, and at most 10^5 of them at parallelism 10^5.
      if (s.completions === undefined) ctx.addIssue({ code: 'custom', message: 'completions is required when completionMode is Indexed' });
      if ((s.completions ?? 0) > 100_000) ctx.addIssue({ code: 'custom', message: 'completions must be at most 100000 when completionMode is Indexed' });
      if ((s.parallelism ?? 0) > 100_000) ctx.addIssue({ code: 'custom', message: 'parallelism must be at most 100000 when completionMode is Indexed' });
    }
  });

export const BatchV1Job = z
  .object({
    apiVersion: z.literal('batch/v1'),
    kind: z.literal('Job'),
    metadata: ObjectMeta,
    spec: JobSpec,
  })
  .strict();

export type BatchV1JobT = z.output<typeof BatchV1Job>;
