#!/usr/bin/env bash
# Creates the IAM role and instance profile cellar's agent runs with on every instance
# cellar launches (the config's `instance_profile`), from docs/agent-iam-policy.json.
# Idempotent: what exists already is left as it is, and the role's inline policy is
# (re)written from the file, so running it again after the policy changed updates it.
#
#   bash docs/agent-role.sh [NAME] [--with-operator-policy]
#
# NAME defaults to cellar-agent (role and instance profile share it). With
# --with-operator-policy the role also gets docs/iam-policy.json, which the commands run
# on the instance itself without @SERVER (`cellar --backend aws apply stop-auto-scaling`)
# need; leave it out to keep the instance's rights to what the agent needs, and run those
# commands with an operator's profile instead (`--profile NAME`).
#
# Needs the AWS CLI and iam:CreateRole, iam:PutRolePolicy, iam:CreateInstanceProfile,
# iam:AddRoleToInstanceProfile, iam:GetRole, iam:GetInstanceProfile. The person or
# pipeline that then runs cellar needs iam:PassRole on this role to launch instances with it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
name=cellar-agent
operator=no
for arg in "$@"; do
    case "$arg" in
    --with-operator-policy) operator=yes ;;
    -*) echo "agent-role.sh: unknown option $arg (usage: bash docs/agent-role.sh [NAME] [--with-operator-policy])" >&2; exit 2 ;;
    *) name=$arg ;;
    esac
done

trust='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'

if aws iam get-role --role-name "$name" >/dev/null 2>&1; then
    echo "role $name exists"
else
    aws iam create-role --role-name "$name" --assume-role-policy-document "$trust" \
        --description "cellar's agent: re-attaches the data volume and re-associates the Elastic IP at boot" >/dev/null
    echo "role $name created"
fi

aws iam put-role-policy --role-name "$name" --policy-name cellar-agent \
    --policy-document "file://$here/agent-iam-policy.json"
echo "role $name allows docs/agent-iam-policy.json"
if [ "$operator" = yes ]; then
    aws iam put-role-policy --role-name "$name" --policy-name cellar-operator \
        --policy-document "file://$here/iam-policy.json"
    echo "role $name allows docs/iam-policy.json (commands run on the instance)"
fi

if aws iam get-instance-profile --instance-profile-name "$name" >/dev/null 2>&1; then
    echo "instance profile $name exists"
else
    aws iam create-instance-profile --instance-profile-name "$name" >/dev/null
    echo "instance profile $name created"
fi
roles=$(aws iam get-instance-profile --instance-profile-name "$name" --query 'InstanceProfile.Roles[].RoleName' --output text)
case " $roles " in
*" $name "*) echo "instance profile $name has role $name" ;;
*)
    aws iam add-role-to-instance-profile --instance-profile-name "$name" --role-name "$name"
    echo "instance profile $name now has role $name"
    ;;
esac
echo "set instance_profile: \"$name\" in config/global.ron (or a platform's or server's file)"
