from django.urls import path

from . import costs

urlpatterns = [
    path("allocation", costs.AllocationApi.as_view(), name="allocation"),
    path("allocation/compute", costs.AllocationApi.as_view(), name="allocation-compute"),
    path("billing/budgets/", costs.BudgetStatusApi.as_view(), name="billing-budgets"),
    path("billing/reports/<str:month>/", costs.MonthlyReportApi.as_view(), name="billing-report"),
]
