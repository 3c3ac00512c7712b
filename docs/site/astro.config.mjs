// Starlight site of the fleet.migration collection. Reference pages under
// src/content/docs/reference/ are generated at every build by
// scripts/gen_reference.py (git-ignored); the guides are written by hand.
import { defineConfig } from 'astro/config';
import starlight from '@astrojs/starlight';

export default defineConfig({
  site: 'https://fleet-migration.invalid',
  // Stay offline: no telemetry, no remote fonts or images.
  telemetry: false,
  integrations: [
    starlight({
      title: 'fleet.migration',
      description: 'Phase-gated migration of a fleet onto clan: the Ansible collection and the Nix flake',
      pagefind: true,
      sidebar: [
        {
          label: 'Guides',
          items: [
            'architecture',
            'phases',
            { label: 'Onboarding', items: ['onboarding/darwin', 'onboarding/nixos'] },
            'secrets',
            'rollback',
            'troubleshooting',
            'release',
          ],
        },
        {
          label: 'Reference',
          items: [
            'reference',
            'reference/gates',
            { label: 'Machines', items: ['reference/machines', { label: 'Each machine', collapsed: true, autogenerate: { directory: 'reference/machines' } }] },
            { label: 'Modules', collapsed: true, autogenerate: { directory: 'reference/modules' } },
            { label: 'Plugins', collapsed: true, autogenerate: { directory: 'reference/plugins' } },
            { label: 'Roles', collapsed: true, autogenerate: { directory: 'reference/roles' } },
          ],
        },
      ],
    }),
  ],
});
