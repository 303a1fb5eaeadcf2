#!/usr/bin/python3
# Copyright: hive contributors. Licensed under the Apache License 2.0.
"""Ansible module: reports a warning (shown by hive as a warning, once) and changes nothing."""

DOCUMENTATION = r"""
module: hive_warning
short_description: Report a warning
description:
  - Returns its message as an Ansible warning, so the hive CLI shows it as a warning of the run.
  - Changes nothing, in check mode or not.
author: hive
attributes:
  check_mode:
    support: full
    description: The warning is reported in check mode too.
  diff_mode:
    support: none
    description: There is nothing to compare.
options:
  msg:
    description: The warning.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Say once that a volume is not replicated
  hive_warning:
    msg: "DRBD is not available on p-hive0.demo: volume data is a plain local volume"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
changed:
  description: Always false.
  type: bool
  returned: always
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={"msg": {"type": "str", "required": True}}, supports_check_mode=True)
    module.warn(module.params["msg"])
    module.exit_json(changed=False)


if __name__ == "__main__":
    main()
