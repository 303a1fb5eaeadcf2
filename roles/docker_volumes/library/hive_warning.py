#!/usr/bin/python3
# Copyright: hive contributors. Licensed under the Apache License 2.0.
"""Ansible module: reports a warning (shown by hive as a warning, once) and changes nothing."""

DOCUMENTATION = r"""
module: hive_warning
short_description: Report a warning
description:
  - Returns its message as an Ansible warning, so the hive CLI shows it as a warning of the run.
options:
  msg:
    description: The warning.
    type: str
    required: true
author: hive
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={"msg": {"type": "str", "required": True}}, supports_check_mode=True)
    module.warn(module.params["msg"])
    module.exit_json(changed=False)


if __name__ == "__main__":
    main()
