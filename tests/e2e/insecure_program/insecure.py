"""Deliberately insecure: what the kgot-platform policy pack exists to stop.

Each resource breaks rules of ../../../../shared/POLICY_RULES.md (numbers in
the comments); `pulumi preview --policy-pack policies` must fail on it.
"""

import pulumi_kubernetes as k8s

# Split so that secret scanners looking at this repository do not flag it.
FAKE_AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"

labels = {"app": "insecure"}

k8s.apps.v1.Deployment(
    "insecure",
    metadata={"name": "insecure", "namespace": "default"},  # 24
    spec={
        "replicas": 1,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},  # 24: no app.kubernetes.io/* labels
            "spec": {
                "hostNetwork": True,  # 1
                "containers": [
                    {
                        "name": "app",
                        "image": "nginx:latest",  # 19
                        "env": [{"name": "AWS_ACCESS_KEY_ID", "value": FAKE_AWS_KEY}],  # 30
                        "securityContext": {
                            "privileged": True,  # 2
                            "runAsUser": 0,  # 15
                            "capabilities": {"add": ["SYS_ADMIN"]},  # 3, 17
                        },
                        "ports": [{"containerPort": 80, "hostPort": 80}],  # 5
                    }
                ],
                "volumes": [{"name": "host", "hostPath": {"path": "/"}}],  # 4
            },
        },
    },
)

k8s.core.v1.Service(
    "insecure",
    metadata={"name": "insecure", "namespace": "default"},
    spec={"type": "NodePort", "selector": labels, "ports": [{"port": 80}]},  # 27
)

k8s.rbac.v1.ClusterRoleBinding(
    "insecure",
    metadata={"name": "insecure-admin"},
    role_ref={
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "cluster-admin",  # 29
    },
    subjects=[{"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
)

k8s.rbac.v1.Role(
    "insecure",
    metadata={"name": "insecure", "namespace": "default"},
    rules=[{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],  # 29
)
