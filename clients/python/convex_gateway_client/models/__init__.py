""" Contains all the data models used in inputs/outputs """

from .admin_status import AdminStatus
from .api_action_response_200 import ApiActionResponse200
from .api_action_response_200_error_data_type_0 import ApiActionResponse200ErrorDataType0
from .api_action_response_200_value_type_0 import ApiActionResponse200ValueType0
from .api_action_response_4xx import ApiActionResponse4XX
from .api_action_response_560 import ApiActionResponse560
from .api_action_response_560_error_data_type_0 import ApiActionResponse560ErrorDataType0
from .api_action_response_560_value_type_0 import ApiActionResponse560ValueType0
from .api_mutation_response_200 import ApiMutationResponse200
from .api_mutation_response_200_error_data_type_0 import ApiMutationResponse200ErrorDataType0
from .api_mutation_response_200_value_type_0 import ApiMutationResponse200ValueType0
from .api_mutation_response_4xx import ApiMutationResponse4XX
from .api_mutation_response_560 import ApiMutationResponse560
from .api_mutation_response_560_error_data_type_0 import ApiMutationResponse560ErrorDataType0
from .api_mutation_response_560_value_type_0 import ApiMutationResponse560ValueType0
from .api_query_response_200 import ApiQueryResponse200
from .api_query_response_200_error_data_type_0 import ApiQueryResponse200ErrorDataType0
from .api_query_response_200_value_type_0 import ApiQueryResponse200ValueType0
from .api_query_response_4xx import ApiQueryResponse4XX
from .api_query_response_560 import ApiQueryResponse560
from .api_query_response_560_error_data_type_0 import ApiQueryResponse560ErrorDataType0
from .api_query_response_560_value_type_0 import ApiQueryResponse560ValueType0
from .api_run_response_200 import ApiRunResponse200
from .api_run_response_200_error_data_type_0 import ApiRunResponse200ErrorDataType0
from .api_run_response_200_value_type_0 import ApiRunResponse200ValueType0
from .api_run_response_4xx import ApiRunResponse4XX
from .api_run_response_560 import ApiRunResponse560
from .api_run_response_560_error_data_type_0 import ApiRunResponse560ErrorDataType0
from .api_run_response_560_value_type_0 import ApiRunResponse560ValueType0
from .batch_ref import BatchRef
from .batch_request import BatchRequest
from .batch_response import BatchResponse
from .call_function_body import CallFunctionBody
from .capabilities import Capabilities
from .change import Change
from .change_document_type_0 import ChangeDocumentType0
from .change_op import ChangeOp
from .change_page import ChangePage
from .change_previous_type_0 import ChangePreviousType0
from .client_body import ClientBody
from .commit_response import CommitResponse
from .commit_response_ids import CommitResponseIds
from .conflict_list import ConflictList
from .conflict_record import ConflictRecord
from .conflict_record_convex_version_type_0 import ConflictRecordConvexVersionType0
from .conflict_record_postgres_version_type_0 import ConflictRecordPostgresVersionType0
from .created_client import CreatedClient
from .direction_status import DirectionStatus
from .direction_status_position import DirectionStatusPosition
from .document_body import DocumentBody
from .entry import Entry
from .entry_result import EntryResult
from .error_code import ErrorCode
from .function_request import FunctionRequest
from .function_request_args_type_0 import FunctionRequestArgsType0
from .function_value import FunctionValue
from .function_value_value import FunctionValueValue
from .health_status import HealthStatus
from .history_response import HistoryResponse
from .jwks_response_200 import JwksResponse200
from .kind import Kind
from .list_documents_filters import ListDocumentsFilters
from .list_documents_mode import ListDocumentsMode
from .list_response import ListResponse
from .merge_patch import MergePatch
from .new_client import NewClient
from .new_document import NewDocument
from .openid_configuration_response_200 import OpenidConfigurationResponse200
from .operation_result import OperationResult
from .operation_type_0 import OperationType0
from .operation_type_0_op import OperationType0Op
from .operation_type_1 import OperationType1
from .operation_type_1_op import OperationType1Op
from .operation_type_2 import OperationType2
from .operation_type_2_op import OperationType2Op
from .operation_type_3 import OperationType3
from .operation_type_3_op import OperationType3Op
from .operation_type_4 import OperationType4
from .operation_type_4_op import OperationType4Op
from .outbox_list import OutboxList
from .outbox_status import OutboxStatus
from .outbox_status_counts import OutboxStatusCounts
from .patch_document_body import PatchDocumentBody
from .problem import Problem
from .problem_error_data_type_0 import ProblemErrorDataType0
from .ready_status import ReadyStatus
from .receipt import Receipt
from .refresh_request import RefreshRequest
from .replace_document_body import ReplaceDocumentBody
from .replica import Replica
from .revert_request import RevertRequest
from .revoke_request import RevokeRequest
from .run_request import RunRequest
from .run_request_args_type_0 import RunRequestArgsType0
from .set_variable import SetVariable
from .status import Status
from .sync_control import SyncControl
from .sync_status import SyncStatus
from .token_request import TokenRequest
from .token_request_claims_type_0 import TokenRequestClaimsType0
from .token_response import TokenResponse
from .transaction_handle import TransactionHandle
from .transaction_status import TransactionStatus
from .variable import Variable
from .variables import Variables
from .version_body import VersionBody
from .version_body_fields_type_0 import VersionBodyFieldsType0
from .webhook_receipt import WebhookReceipt
from .webhook_status import WebhookStatus

__all__ = (
    "AdminStatus",
    "ApiActionResponse200",
    "ApiActionResponse200ErrorDataType0",
    "ApiActionResponse200ValueType0",
    "ApiActionResponse4XX",
    "ApiActionResponse560",
    "ApiActionResponse560ErrorDataType0",
    "ApiActionResponse560ValueType0",
    "ApiMutationResponse200",
    "ApiMutationResponse200ErrorDataType0",
    "ApiMutationResponse200ValueType0",
    "ApiMutationResponse4XX",
    "ApiMutationResponse560",
    "ApiMutationResponse560ErrorDataType0",
    "ApiMutationResponse560ValueType0",
    "ApiQueryResponse200",
    "ApiQueryResponse200ErrorDataType0",
    "ApiQueryResponse200ValueType0",
    "ApiQueryResponse4XX",
    "ApiQueryResponse560",
    "ApiQueryResponse560ErrorDataType0",
    "ApiQueryResponse560ValueType0",
    "ApiRunResponse200",
    "ApiRunResponse200ErrorDataType0",
    "ApiRunResponse200ValueType0",
    "ApiRunResponse4XX",
    "ApiRunResponse560",
    "ApiRunResponse560ErrorDataType0",
    "ApiRunResponse560ValueType0",
    "BatchRef",
    "BatchRequest",
    "BatchResponse",
    "CallFunctionBody",
    "Capabilities",
    "Change",
    "ChangeDocumentType0",
    "ChangeOp",
    "ChangePage",
    "ChangePreviousType0",
    "ClientBody",
    "CommitResponse",
    "CommitResponseIds",
    "ConflictList",
    "ConflictRecord",
    "ConflictRecordConvexVersionType0",
    "ConflictRecordPostgresVersionType0",
    "CreatedClient",
    "DirectionStatus",
    "DirectionStatusPosition",
    "DocumentBody",
    "Entry",
    "EntryResult",
    "ErrorCode",
    "FunctionRequest",
    "FunctionRequestArgsType0",
    "FunctionValue",
    "FunctionValueValue",
    "HealthStatus",
    "HistoryResponse",
    "JwksResponse200",
    "Kind",
    "ListDocumentsFilters",
    "ListDocumentsMode",
    "ListResponse",
    "MergePatch",
    "NewClient",
    "NewDocument",
    "OpenidConfigurationResponse200",
    "OperationResult",
    "OperationType0",
    "OperationType0Op",
    "OperationType1",
    "OperationType1Op",
    "OperationType2",
    "OperationType2Op",
    "OperationType3",
    "OperationType3Op",
    "OperationType4",
    "OperationType4Op",
    "OutboxList",
    "OutboxStatus",
    "OutboxStatusCounts",
    "PatchDocumentBody",
    "Problem",
    "ProblemErrorDataType0",
    "ReadyStatus",
    "Receipt",
    "RefreshRequest",
    "ReplaceDocumentBody",
    "Replica",
    "RevertRequest",
    "RevokeRequest",
    "RunRequest",
    "RunRequestArgsType0",
    "SetVariable",
    "Status",
    "SyncControl",
    "SyncStatus",
    "TokenRequest",
    "TokenRequestClaimsType0",
    "TokenResponse",
    "TransactionHandle",
    "TransactionStatus",
    "Variable",
    "Variables",
    "VersionBody",
    "VersionBodyFieldsType0",
    "WebhookReceipt",
    "WebhookStatus",
)
